"""`manage.py spectora_sandbox`, and the setting that installs it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from spectora_sandbox.management.commands.spectora_sandbox import SECRET_ENV, Command
from spectora_sandbox.webhooks import generate_secret

ROOT = Path(__file__).resolve().parents[2]


class RunningCommand:
    """`spectora_sandbox` run in a thread (the app need not be installed for this)."""

    def __init__(self, **options) -> None:
        self.command = Command()
        self.out = io.StringIO()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, kwargs=options, daemon=True)

    def _run(self, **options) -> None:
        try:
            call_command(self.command, stdout=self.out, **options)
        except BaseException as exc:
            self.error = exc

    def start(self) -> str:
        """Start it; the banner once it is listening."""
        self.thread.start()
        deadline = time.monotonic() + 10
        while "Press Ctrl-C" not in self.out.getvalue():
            if self.error is not None:
                raise self.error
            assert time.monotonic() < deadline, self.out.getvalue()
            time.sleep(0.02)
        return self.out.getvalue()

    def url(self) -> str:
        first = self.out.getvalue().splitlines()[0]
        return first.rsplit(" ", 1)[-1]

    def stop(self) -> None:
        self.command.stop_requested.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


@pytest.fixture
def run_command():
    started: list[RunningCommand] = []

    def run(**options) -> RunningCommand:
        options.setdefault("port", 0)
        running = RunningCommand(**options)
        started.append(running)
        return running

    yield run
    for running in started:
        if running.thread.is_alive():
            running.stop()


def test_it_serves_the_api_until_asked_to_stop(run_command):
    running = run_command()
    banner = running.start()
    assert "API key:        sandbox-key" in banner
    resp = requests.get(
        f"{running.url()}/v2/inspectors", headers={"Authorization": "Bearer sandbox-key"}, timeout=5
    )
    assert resp.status_code == 200
    running.stop()
    assert "Spectora sandbox stopped." in running.out.getvalue()


@pytest.mark.parametrize(("flag", "installed"), [("true", True), (None, False)])
def test_the_command_exists_only_when_the_flag_installs_the_app(flag, installed, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ATTIK_SANDBOX_APP"}
    env["ATTIK_VAR_DIR"] = str(tmp_path)
    if flag is not None:
        env["ATTIK_SANDBOX_APP"] = flag
    result = subprocess.run(
        [sys.executable, "manage.py", "help", "spectora_sandbox"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert (result.returncode == 0) is installed, result.stdout + result.stderr
    if not installed:
        assert "Unknown command: 'spectora_sandbox'" in result.stderr


def test_with_a_state_file_a_restarted_command_carries_on(run_command, tmp_path):
    state_file = tmp_path / "sandbox-state.json"
    running = run_command(state_file=str(state_file))
    assert f"Kept in:        {state_file} (0 inspections, next id 1001)" in running.start()
    created = requests.post(
        f"{running.url()}/_sandbox/inspections",
        json={"attributes": {"datetime": "2025-12-01T09:00:00Z", "full_address": "1 A St"}},
        timeout=5,
    )
    assert created.json()["id"] == "1001"
    running.stop()

    again = run_command(state_file=str(state_file))
    assert f"Kept in:        {state_file} (1 inspections, next id 1002)" in again.start()
    state = requests.get(f"{again.url()}/_sandbox/state", timeout=5).json()
    assert [i["id"] for i in state["inspections"]] == ["1001"]


def test_an_unreadable_state_file_is_a_clear_error(tmp_path):
    state_file = tmp_path / "sandbox-state.json"
    state_file.write_text("{half a file")
    with pytest.raises(CommandError, match="--state-file: .* is not valid JSON"):
        call_command(Command(), port=0, state_file=str(state_file), stdout=io.StringIO())


# ---------------------------------------------------------------- the webhook secret


def _secret_in_use(running: RunningCommand) -> str:
    return requests.get(f"{running.url()}/_sandbox/webhook_config", timeout=5).json()["secret"]


def _assert_not_shown(text: str, secret: str) -> None:
    assert secret not in text
    assert secret.removeprefix("whsec_") not in text


@pytest.mark.parametrize("source", ["environment", "file", "flag", "generated"])
def test_the_banner_never_shows_the_webhook_secret(source, run_command, monkeypatch, tmp_path):
    secret = generate_secret()
    options: dict = {}
    monkeypatch.delenv(SECRET_ENV, raising=False)
    if source == "environment":
        monkeypatch.setenv(SECRET_ENV, secret)
    elif source == "file":
        path = tmp_path / "webhook-secret"
        path.write_text(secret + "\n")
        options["webhook_secret_file"] = str(path)
    elif source == "flag":
        options["webhook_secret"] = secret
    running = run_command(**options)
    banner = running.start()
    in_use = _secret_in_use(running)
    if source != "generated":
        assert in_use == secret
    assert "Webhook secret: " in banner
    running.stop()
    _assert_not_shown(running.out.getvalue(), in_use)


def test_the_secret_file_wins_over_the_environment(run_command, monkeypatch, tmp_path):
    from_file, from_env = generate_secret(), generate_secret()
    path = tmp_path / "webhook-secret"
    path.write_text(from_file)
    monkeypatch.setenv(SECRET_ENV, from_env)
    running = run_command(webhook_secret_file=str(path))
    assert f"Webhook secret: file {path}; not shown" in running.start()
    assert _secret_in_use(running) == from_file


def test_the_secret_flag_still_works_but_warns(monkeypatch):
    secret = generate_secret()
    command, err = Command(), io.StringIO()
    command.stop_requested.set()  # stop as soon as it has started
    call_command(command, port=0, webhook_secret=secret, stdout=io.StringIO(), stderr=err)
    assert "--webhook-secret shows the secret in the process list" in err.getvalue()
    _assert_not_shown(err.getvalue(), secret)


@pytest.mark.parametrize(
    ("options", "env", "message"),
    [
        ({"webhook_secret_file": "/nonexistent/secret"}, None, "cannot read /nonexistent/secret"),
        ({}, "not-a-secret", f"{SECRET_ENV}: webhook secret must look like whsec_"),
        (
            {"webhook_secret": "whsec_AAAA", "webhook_secret_file": "/x"},
            None,
            "not both",
        ),
    ],
)
def test_a_bad_secret_is_refused_without_echoing_it(options, env, message, monkeypatch):
    if env is None:
        monkeypatch.delenv(SECRET_ENV, raising=False)
    else:
        monkeypatch.setenv(SECRET_ENV, env)
    with pytest.raises(CommandError) as caught:
        call_command(Command(), port=0, stdout=io.StringIO(), **options)
    assert message in str(caught.value)
    if env is not None:
        assert env not in str(caught.value).replace(SECRET_ENV, "")


def test_the_demo_never_puts_the_sandbox_secret_on_a_command_line():
    (sandbox_line,) = [
        line for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith("sandbox:")
    ]
    assert "--webhook-secret-file " in sandbox_line
    assert "--webhook-secret " not in sandbox_line
    assert "SANDBOX_WEBHOOK_SECRET" not in sandbox_line
    demo = (ROOT / "bin" / "demo").read_text().splitlines()
    assert not [line for line in demo if "spectora_sandbox" in line and "--webhook-secret" in line]
