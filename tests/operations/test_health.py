"""/health/: database, broker, worker and beat, each failing in turn, and nothing secret."""

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from operations import heartbeat
from operations.models import Heartbeat

pytestmark = pytest.mark.django_db


def beats(beat_ago: float | None, worker_ago: float | None,
          background_ago: float | None = 0) -> None:
    """Heartbeat rows as beat and the workers of each lane would have left them."""
    now = timezone.now()

    def ago(seconds):
        return None if seconds is None else now - timedelta(seconds=seconds)

    Heartbeat.objects.update_or_create(
        name=heartbeat.NAME, defaults={"beat_at": ago(beat_ago), "worker_at": ago(worker_ago)})
    Heartbeat.objects.update_or_create(
        name=heartbeat.BACKGROUND_NAME, defaults={"worker_at": ago(background_ago)})


@pytest.fixture
def fresh_heartbeats():
    beats(0, 0, 0)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed once the socket is


def get(client):
    response = client.get("/health/")
    return response.status_code, response.json()


def failing(body) -> list[str]:
    return sorted(name for name, check in body["checks"].items() if not check["ok"])


@pytest.mark.usefixtures("fresh_heartbeats")
def test_it_is_ok_when_every_check_passes(client, settings):
    """On the suite's own broker: the filesystem one, or Redis (PING) in bin/test --full."""
    status, body = get(client)
    assert status == 200
    scheme = settings.CELERY_BROKER_URL.split(":", 1)[0]
    assert body["checks"]["broker"]["transport"] == scheme.replace("rediss", "redis")
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "worker", "beat"}
    assert all(check["ok"] for check in body["checks"].values())


def test_it_needs_no_login_and_sets_no_cookie(client, fresh_heartbeats):
    response = client.get("/health/")
    assert response.status_code == 200
    assert not response.cookies


@pytest.mark.usefixtures("fresh_heartbeats")
def test_a_broken_database_answers_503_naming_it(client, monkeypatch):
    from django.db import OperationalError

    from operations import checks

    def refuse(*args, **kwargs):
        raise OperationalError("could not connect to server at db.internal:5432")

    class Down:
        cursor = staticmethod(refuse)

    monkeypatch.setattr(checks, "connection", Down())
    monkeypatch.setattr(heartbeat, "last_heartbeat", refuse)
    status, body = get(client)
    assert status == 503
    assert body["status"] == "failing"
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    assert "db.internal" not in str(body)


@pytest.mark.usefixtures("fresh_heartbeats")
def test_a_redis_broker_on_a_closed_port_answers_503_without_its_password(client, settings):
    settings.CELERY_BROKER_URL = f"redis://:hunter2-secret@127.0.0.1:{closed_port()}/0"
    status, body = get(client)
    assert status == 503
    assert failing(body) == ["broker"]
    assert body["checks"]["broker"]["transport"] == "redis"
    assert body["checks"]["broker"]["error"] == "ConnectionError"
    assert "hunter2" not in str(body)
    assert "127.0.0.1" not in str(body)


@pytest.fixture
def filesystem_broker(settings, tmp_path):
    """The filesystem broker in folders of this test's own (whatever the suite's broker)."""
    folders = {name: tmp_path / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir()
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(folders["queue"]), "data_folder_out": str(folders["queue"]),
        "processed_folder": str(folders["processed"]),
        "control_folder": str(folders["control"]),
    }
    return folders


@pytest.mark.usefixtures("fresh_heartbeats")
def test_the_filesystem_broker_is_ok_when_its_folders_take_files(client, filesystem_broker):
    status, body = get(client)
    assert status == 200
    assert body["checks"]["broker"] == {"ok": True, "transport": "filesystem"}
    for folder in filesystem_broker.values():
        assert list(folder.iterdir()) == []  # the probe leaves nothing behind


@pytest.mark.usefixtures("fresh_heartbeats")
def test_an_unwritable_broker_folder_answers_503(client, settings, filesystem_broker, tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        **settings.CELERY_BROKER_TRANSPORT_OPTIONS, "data_folder_in": str(not_a_folder / "q"),
    }
    status, body = get(client)
    assert status == 503
    assert failing(body) == ["broker"]
    assert body["checks"]["broker"]["error"] == "NotADirectoryError"
    assert str(tmp_path) not in str(body)


@pytest.mark.usefixtures("fresh_heartbeats")
def test_a_missing_broker_folder_answers_503(client, settings, filesystem_broker, tmp_path):
    filesystem_broker["control"].rmdir()
    status, body = get(client)
    assert status == 503
    assert failing(body) == ["broker"]
    assert body["checks"]["broker"]["error"] == "FileNotFoundError"


def test_a_stale_worker_heartbeat_answers_503_naming_the_worker(client, settings):
    beats(20, 300, 5)
    status, body = get(client)
    assert status == 503
    assert failing(body) == ["worker"]
    assert body["checks"]["worker"]["age_seconds"] >= 300
    assert body["checks"]["worker"]["error"].startswith("first lane worker heartbeat older")


def test_a_background_lane_no_worker_consumes_answers_503(client, settings):
    """A person's Syncs are served, but automatic and bulk syncs would wait forever: the
    Procfile runs one worker per lane, and either may be missing."""
    beats(5, 5, None)
    status, body = get(client)
    assert status == 503
    assert failing(body) == ["worker"]
    worker = body["checks"]["worker"]
    assert worker["error"] == "no background lane worker heartbeat yet"
    assert (worker["lanes"]["first"]["ok"], worker["lanes"]["background"]["ok"]) == (True, False)
    beats(5, 5, 600)
    assert get(client)[1]["checks"]["worker"]["lanes"]["background"]["age_seconds"] >= 600


def test_a_silent_beat_answers_503_naming_beat(client):
    beats(600, 10, 10)
    status, body = get(client)
    assert status == 503
    assert failing(body) == ["beat"]


def test_no_heartbeat_at_all_fails_worker_and_beat(client):
    status, body = get(client)
    assert status == 503
    assert failing(body) == ["beat", "worker"]


def test_the_staleness_limit_is_a_setting(client, settings):
    beats(50, 50, 50)
    settings.ATTIK_HEARTBEAT_STALE_SECONDS = 120
    assert get(client)[0] == 200
    settings.ATTIK_HEARTBEAT_STALE_SECONDS = 30
    assert failing(get(client)[1]) == ["beat", "worker"]


def test_beat_records_only_the_heartbeat_task_it_publishes():
    heartbeat.on_publish(sender="spectora.sweep_outbox")
    assert heartbeat.last_heartbeat() is None
    heartbeat.on_publish(sender=heartbeat.TASK_NAME)
    beat = heartbeat.last_heartbeat()
    assert beat.beat_at is not None and beat.worker_at is None


def test_the_heartbeat_task_records_the_worker_of_its_lane():
    from operations.tasks import beat_heartbeat

    beat_heartbeat()
    assert heartbeat.last_heartbeat().worker_at is not None
    assert heartbeat.lane_heartbeats()["background"] is None
    beat_heartbeat(lane="background")
    assert heartbeat.lane_heartbeats()["background"].worker_at is not None


def test_the_heartbeat_is_on_the_beat_schedule_and_expires(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["operations-heartbeat"]
    assert entry["task"] == heartbeat.TASK_NAME
    assert entry["schedule"] <= 60
    assert entry["options"]["expires"] < settings.ATTIK_HEARTBEAT_STALE_SECONDS
    background = settings.CELERY_BEAT_SCHEDULE["operations-heartbeat-background"]
    assert background["task"] == heartbeat.TASK_NAME
    assert background["kwargs"] == {"lane": "background"}
    assert background["options"]["queue"] == (settings.CELERY_TASK_DEFAULT_QUEUE
                                              + settings.CELERY_BACKGROUND_SUFFIX)


@pytest.mark.usefixtures("fresh_heartbeats")
def test_it_answers_over_plain_http_when_https_is_enforced(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/health/").status_code == 200  # a load balancer's probe
    assert client.get("/metrics").status_code == 301  # the token only travels over https


def test_the_procfile_runs_a_worker_per_lane_the_background_one_niced_below(settings):
    from tests.worker import ROOT

    lines = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines()
                 if line.strip() and not line.startswith("#"))
    workers = {name: command for name, command in lines.items() if " worker " in command}
    queues = {command.split(" -Q ")[1].split()[0].replace("${ATTIK_QUEUE:-attik}", "attik"):
              int(command.split("nice -n ")[1].split()[0]) for command in workers.values()}
    first = settings.CELERY_TASK_QUEUES[0].name
    assert queues.keys() == {first, first + settings.CELERY_BACKGROUND_SUFFIX}, workers
    assert queues[first] < queues[first + settings.CELERY_BACKGROUND_SUFFIX]
    assert sum(" beat " in command for command in lines.values()) == 1
