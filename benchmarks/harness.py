"""Shared set-up for benchmark scripts: a throwaway embedded install, the sandbox, workers.

Each benchmark runs against its own temporary ``ATTIK_VAR_DIR`` (SQLite + the
filesystem broker) unless ``DATABASE_URL`` / ``CELERY_BROKER_URL`` are set, so
it never touches the demo's data.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

from tests.worker import wait_for as wait_until  # noqa: E402 - needs ROOT on the path

__all__ = ["percentile", "setup_django", "wait_until", "write_result"]


def setup_django() -> Path:
    """Point settings at a fresh var dir, set Django up and migrate. Returns the var dir."""
    var_dir = Path(tempfile.mkdtemp(prefix="attik-bench-"))
    os.environ.setdefault("ATTIK_VAR_DIR", str(var_dir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "attik.settings")
    os.environ.setdefault("ATTIK_DEMO_MODE", "true")  # the loopback sandbox, dev keys
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return Path(os.environ["ATTIK_VAR_DIR"])


def write_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    from django.conf import settings

    payload = {
        "benchmark": name,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "broker": settings.CELERY_BROKER_URL.split(":", 1)[0],
        **data,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]
