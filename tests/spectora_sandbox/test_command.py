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

from spectora_sandbox.management.commands.spectora_sandbox import Command

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
        except BaseException as exc:  # noqa: BLE001 - reported to the test
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
