"""Settings for the test suite: Attik's own, in demo mode.

pytest-django imports this module (pyproject ``DJANGO_SETTINGS_MODULE``) before it
loads any conftest, so demo mode is on before Django reads its settings. It is set
in ``os.environ`` so every process the suite starts inherits it too: the Celery
workers of ``tests/worker.py``, ``manage.py`` subprocesses, xdist workers. A test
that needs production settings sets ``ATTIK_DEMO_MODE=false`` (and
``DJANGO_SETTINGS_MODULE=attik.settings``) for its subprocess, or overrides
``settings.ATTIK_DEMO_MODE`` in process.
"""

import os

from cryptography.fernet import Fernet

os.environ.setdefault("ATTIK_DEMO_MODE", "true")
# A key of the run's own, so tests that switch demo mode off in process still read
# the secrets they stored (outside demo mode no key is derived from SECRET_KEY).
os.environ.setdefault("ATTIK_ENCRYPTION_KEY", Fernet.generate_key().decode())

from attik.settings import *  # noqa: F403
