"""Pen-test item 8: production is the default, and it refuses the development keys.

``ATTIK_DEMO_MODE`` used to default to true, so a deploy that forgot it got insecure
cookies and loopback http connections. Each case starts a fresh interpreter, since
settings are read once at import.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

from tests.worker import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'demo': s.ATTIK_DEMO_MODE, 'secure': s.SESSION_COOKIE_SECURE, "
    "'csrf_secure': s.CSRF_COOKIE_SECURE}))"
)


def start(tmp_path, **env_vars):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ATTIK_") and k not in ("SECRET_KEY", "DEBUG")}
    env.update(DJANGO_SETTINGS_MODULE="attik.settings", ATTIK_VAR_DIR=str(tmp_path),
               DATABASE_URL="", **env_vars)
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_without_demo_mode_set_it_is_off_with_secure_cookies(tmp_path):
    result = start(tmp_path, SECRET_KEY="a-real-secret-" * 5,
                   ATTIK_ENCRYPTION_KEY=Fernet.generate_key().decode())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"demo": False, "secure": True, "csrf_secure": True}


def test_outside_demo_mode_the_development_secret_key_is_refused(tmp_path):
    result = start(tmp_path, ATTIK_ENCRYPTION_KEY=Fernet.generate_key().decode())
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is not set" in result.stderr
    same_as_dev = start(tmp_path, ATTIK_ENCRYPTION_KEY=Fernet.generate_key().decode(),
                        SECRET_KEY=settings.DEV_SECRET_KEY)
    assert "SECRET_KEY is not set" in same_as_dev.stderr


def test_outside_demo_mode_a_key_derived_from_secret_key_is_refused(tmp_path):
    result = start(tmp_path, SECRET_KEY="a-real-secret-" * 5)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "ATTIK_ENCRYPTION_KEY is not set" in result.stderr


def test_outside_demo_mode_a_malformed_encryption_key_is_refused(tmp_path):
    good = Fernet.generate_key().decode()
    result = start(tmp_path, SECRET_KEY="a-real-secret-" * 5,
                   ATTIK_ENCRYPTION_KEY=f"{good},not-a-fernet-key")
    assert result.returncode != 0
    assert "ATTIK_ENCRYPTION_KEY: key 2 of 2 is not a Fernet key" in result.stderr
    assert "not-a-fernet-key" not in result.stderr  # a key is never echoed


def test_demo_mode_runs_with_the_development_keys(tmp_path):
    result = start(tmp_path, ATTIK_DEMO_MODE="true")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"demo": True, "secure": False, "csrf_secure": False}


def test_the_suite_and_the_workers_it_starts_run_in_demo_mode():
    assert settings.ATTIK_DEMO_MODE is True
    assert os.environ["ATTIK_DEMO_MODE"] == "true"
    assert WorkerProcess("probe").env()["ATTIK_DEMO_MODE"] == "true"


@pytest.mark.django_db
def test_crypto_never_derives_a_key_outside_demo_mode(settings):
    from django.core.exceptions import ImproperlyConfigured

    from spectora_integration import crypto

    settings.ATTIK_DEMO_MODE = False
    settings.ATTIK_ENCRYPTION_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="ATTIK_ENCRYPTION_KEY"):
        crypto.encrypt("a secret")
