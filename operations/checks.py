"""The checks behind ``/health/``: database, broker, worker, beat.

Each returns ``{"ok": bool, ...}``; a failure names a short error class or
reason, never a URL, a host or a password.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from operations import heartbeat

BROKER_TIMEOUT_SECONDS = 1.0


def _failure(error: BaseException) -> dict:
    return {"ok": False, "error": type(error).__name__}


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        return _failure(error)
    return {"ok": True}


def _broker_folders() -> list[Path]:
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    keys = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")
    return sorted({Path(options[k]) for k in keys if options.get(k)})


def _check_folders() -> dict:
    """Each folder exists and takes a file (a real write: root passes ``os.access``)."""
    folders = _broker_folders()
    if not folders:
        return {"ok": False, "transport": "filesystem", "error": "NoFolders"}
    for folder in folders:
        probe = folder / f".attik-health-{uuid.uuid4().hex}.tmp"
        try:
            probe.write_bytes(b"")
            os.unlink(probe)
        except OSError as error:
            return {"ok": False, "transport": "filesystem", "error": type(error).__name__}
    return {"ok": True, "transport": "filesystem"}


def _check_redis(url: str) -> dict:
    import redis

    client = redis.Redis.from_url(
        url, socket_timeout=BROKER_TIMEOUT_SECONDS,
        socket_connect_timeout=BROKER_TIMEOUT_SECONDS, retry_on_timeout=False,
    )
    try:
        client.ping()
    except Exception as error:
        return {"ok": False, "transport": "redis", "error": type(error).__name__}
    finally:
        client.close()
    return {"ok": True, "transport": "redis"}


def _check_kombu(url: str) -> dict:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS) as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as error:
        return {"ok": False, "transport": "other", "error": type(error).__name__}
    return {"ok": True, "transport": "other"}


def check_broker() -> dict:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        return _check_folders()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return _check_redis(url)
    return _check_kombu(url)


def _age(at: datetime | None, now: datetime) -> float | None:
    return None if at is None else round((now - at).total_seconds(), 1)


def _fresh(at: datetime | None, now: datetime, what: str) -> dict:
    limit = settings.ATTIK_HEARTBEAT_STALE_SECONDS
    age = _age(at, now)
    if age is None:
        return {"ok": False, "error": f"no {what} heartbeat yet", "age_seconds": None}
    if at < now - timedelta(seconds=limit):
        return {"ok": False, "error": f"{what} heartbeat older than {limit} s",
                "age_seconds": age}
    return {"ok": True, "age_seconds": age}


def check_heartbeats(now: datetime | None = None) -> tuple[dict, dict]:
    """(worker, beat): beat enqueued the heartbeat recently; on each lane (the first
    queue and the background one) a worker ran it recently."""
    now = now or timezone.now()
    try:
        rows = heartbeat.lane_heartbeats()
    except Exception as error:
        return _failure(error), _failure(error)
    lanes = {lane: _fresh(row.worker_at if row else None, now, f"{lane} lane worker")
             for lane, row in rows.items()}
    failing = [check for check in lanes.values() if not check["ok"]]
    worst = failing[0] if failing else max(lanes.values(), key=lambda c: c["age_seconds"])
    worker = {**worst, "lanes": lanes}
    first = rows["first"]
    return worker, _fresh(first.beat_at if first else None, now, "beat")


def health() -> tuple[bool, dict]:
    worker, beat = check_heartbeats()
    checks = {
        "database": check_database(),
        "broker": check_broker(),
        "worker": worker,
        "beat": beat,
    }
    return all(c["ok"] for c in checks.values()), checks
