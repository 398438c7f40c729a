"""Settings for Attik, read from the environment (django-environ).

Defaults run everything embedded on a bare machine: SQLite in WAL mode and
Celery's filesystem broker under ``var/``. Production sets ``DATABASE_URL``,
``CELERY_BROKER_URL``, ``SECRET_KEY`` and ``ATTIK_ENCRYPTION_KEY`` (Attik refuses to
start without them unless ``ATTIK_DEMO_MODE=true``, which bin/demo and the tests set).
"""

import base64
import hashlib
import re
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("ATTIK_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)

# Demo mode (bin/demo and the tests turn it on) lets a Spectora connection point at
# a loopback sandbox over http, keeps cookies usable over plain http, and runs with
# the development SECRET_KEY and an encryption key derived from it. Off by default:
# production accepts https base URLs only and must set both keys.
ATTIK_DEMO_MODE = env.bool("ATTIK_DEMO_MODE", default=False)
DEV_SECRET_KEY = "attik-dev-only-secret-key-change-me-in-production-0123456789"
SECRET_KEY = env.str("SECRET_KEY", default="") or DEV_SECRET_KEY
if SECRET_KEY == DEV_SECRET_KEY and not ATTIK_DEMO_MODE:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set, so Attik would run with its public development key. Set "
        "SECRET_KEY to a long random value (python -c 'import secrets; "
        "print(secrets.token_urlsafe(50))'), or set ATTIK_DEMO_MODE=true for a local demo."
    )
# Fernet keys (urlsafe base64, 32 bytes) for secrets at rest, comma-separated: the
# first encrypts, every one decrypts (rotation: put the new key first, run
# `manage.py rotate_encryption_key`, then drop the old one). Only demo mode may leave
# it unset and derive a key from SECRET_KEY.
ATTIK_ENCRYPTION_KEY = env.str("ATTIK_ENCRYPTION_KEY", default="")
if not ATTIK_ENCRYPTION_KEY.strip(" ,") and not ATTIK_DEMO_MODE:
    raise ImproperlyConfigured(
        "ATTIK_ENCRYPTION_KEY is not set. Outside demo mode the Spectora API key and webhook "
        "secrets are encrypted with a key of their own, never one derived from SECRET_KEY. "
        "Generate one with python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())' and keep it with your other secrets."
    )
_keys = [k.strip() for k in ATTIK_ENCRYPTION_KEY.split(",") if k.strip()]
for _number, _key in enumerate(_keys, start=1):
    try:
        Fernet(_key.encode())
    except ValueError:
        raise ImproperlyConfigured(
            f"ATTIK_ENCRYPTION_KEY: key {_number} of {len(_keys)} is not a Fernet key "
            "(32 bytes, url-safe base64)."
        ) from None

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_filters",
    "axes",
    "workorders",
    "spectora_integration",
    "operations",
]
# The Spectora sandbox (a local stand-in for Spectora) is installed only for the
# demo, for its `spectora_sandbox` command; tests import it directly.
ATTIK_SANDBOX_APP = env.bool("ATTIK_SANDBOX_APP", default=False)
if ATTIK_SANDBOX_APP:
    INSTALLED_APPS.append("spectora_sandbox")

MIDDLEWARE = [
    "operations.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "attik.urls"
WSGI_APPLICATION = "attik.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "workorders.context_processors.company",
            ],
        },
    },
]

# An empty variable means the default, as if it were unset.
DATABASE_URL = env.str("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'attik.sqlite3'}"
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
# Test workers started by the suite point at the suite's test database with this.
if env.str("ATTIK_DB_NAME", default=""):
    DATABASES["default"]["NAME"] = env.str("ATTIK_DB_NAME")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # WAL lets the web server read while the worker writes; IMMEDIATE
            # takes the write lock at BEGIN so two writers queue instead of
            # failing with "database is locked" halfway through.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-attik.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="America/New_York")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Without collectstatic (demo, tests) WhiteNoise serves straight from the finders.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "workorders:dashboard"
LOGOUT_REDIRECT_URL = "login"

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="attik@localhost")

# Security headers; the cookie flags are secure unless DEBUG or demo mode, so
# `check --deploy` is clean in production while the demo works over plain http.
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG and not ATTIK_DEMO_MODE)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# Load balancers probe over plain http; /health/ carries nothing secret.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): scripts only from our own static files, so no
# inline <script>, no on*= handler and no javascript: URL runs; htmx runs with
# allowEval=false (templates/base.html). Style elements only from static files; style
# attributes are allowed (the dashboard's bar heights, DRF's browsable API). The 500 page
# keeps its own <style> (it must render when nothing else works): allowed by its hash.
_ERROR_STYLE = re.search(
    r"<style>(.*?)</style>", (BASE_DIR / "templates" / "500.html").read_text(), re.DOTALL
)
ERROR_PAGE_STYLE_HASH = "'sha256-{}'".format(
    base64.b64encode(hashlib.sha256(_ERROR_STYLE.group(1).encode()).digest()).decode()
    if _ERROR_STYLE else ""
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "script-src-attr": [NONE],
        "style-src": [SELF],
        "style-src-elem": [SELF, ERROR_PAGE_STYLE_HASH],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Login throttling (django-axes): lock a username+IP pair after repeated failures.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Behind N trusted proxies, the client's address comes from X-Forwarded-For (attik/client_ip.py);
# without it every user would share the proxy's address and one stranger could lock them out.
ATTIK_PROXY_COUNT = env.int("ATTIK_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "attik.client_ip.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["workorders.api_base.IsCompanyMember"],
    "DEFAULT_PARSER_CLASSES": [
        "workorders.api_base.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "workorders.api_base.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": [],
    "EXCEPTION_HANDLER": "workorders.api_errors.exception_handler",
}

# API tokens (django-rest-knox): only a SHA-512 digest is stored; each expires.
# `Authorization: Token <token>` as before; the token starts with "attik_" so
# secret scanners can spot a leaked one.
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.float("ATTIK_API_TOKEN_TTL_HOURS", default=24.0)),
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_PREFIX": "attik_",
    "AUTO_REFRESH": False,
}

SPECTACULAR_SETTINGS = {
    # Public in demo mode only; otherwise a signed-in user (session or token).
    "SERVE_PERMISSIONS": ["workorders.api_auth.SchemaAccess"],
    "TITLE": "Attik API",
    "DESCRIPTION": "Workorders, catalogue and Spectora sync for home-inspection offices.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ServiceKindEnum": "workorders.models.ServiceKind",
        "SyncRunKindEnum": "spectora_integration.models.RunKind",
    },
}

# Celery: filesystem broker under var/ by default, Redis in production.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "filesystem://"
CELERY_BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": env.float("CELERY_POLLING_INTERVAL", default=0.2),
    }
else:
    # Countdowns must stay below the visibility timeout or Redis redelivers.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600,
                                       "queue_order_strategy": "sorted"}
CELERY_TASK_DEFAULT_QUEUE = env.str("ATTIK_QUEUE", default="attik")
# Two lanes (docs/performance.md): a person's Sync and every other task go to the default
# queue; automatic, drift and bulk sync runs to "<default>.background". The Procfile runs
# a worker per lane (-Q), so a click never waits behind background runs a worker holds.
# A worker without -Q consumes both, the default first: strictly on Redis ("sorted":
# "attik" < "attik.background"), in turn on the filesystem broker (kombu's fair cycle).
CELERY_BACKGROUND_SUFFIX = ".background"
CELERY_TASK_QUEUES = [
    Queue(CELERY_TASK_DEFAULT_QUEUE),
    Queue(CELERY_TASK_DEFAULT_QUEUE + CELERY_BACKGROUND_SUFFIX),
]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# How often the drift scan asks Spectora what changed (webhooks are the fast path).
SPECTORA_DRIFT_SCAN_SECONDS = env.float("SPECTORA_DRIFT_SCAN_SECONDS", default=60.0)
# Spectora sync tuning (the defaults are the product's; tests and soaks shorten them).
SPECTORA_CONNECT_TIMEOUT_SECONDS = env.float("SPECTORA_CONNECT_TIMEOUT_SECONDS", default=3.05)
SPECTORA_READ_TIMEOUT_SECONDS = env.float("SPECTORA_READ_TIMEOUT_SECONDS", default=15.0)
SPECTORA_BACKOFF_BASE_SECONDS = env.float("SPECTORA_BACKOFF_BASE_SECONDS", default=2.0)
# The workorder's lease; the sync task's hard time limit is set 30 s below it.
SPECTORA_SYNC_LEASE_SECONDS = env.int("SPECTORA_SYNC_LEASE_SECONDS", default=180)
SPECTORA_SWEEP_AFTER_SECONDS = env.int("SPECTORA_SWEEP_AFTER_SECONDS", default=60)
# Circuit breaker per connection: this many 5xx / timeouts in a row within the window
# pause it; one probe then goes out at an interval doubling from the base to the cap.
SPECTORA_BREAKER_FAILURES = env.int("SPECTORA_BREAKER_FAILURES", default=5)
SPECTORA_BREAKER_WINDOW_SECONDS = env.float("SPECTORA_BREAKER_WINDOW_SECONDS", default=60.0)
SPECTORA_PROBE_BASE_SECONDS = env.float("SPECTORA_PROBE_BASE_SECONDS", default=10.0)
SPECTORA_PROBE_CAP_SECONDS = env.float("SPECTORA_PROBE_CAP_SECONDS", default=300.0)
# Each failed probe waits this much longer than the last: 1.5 probes at 10, 25, 48, 81 s
# into an outage (an 80 s outage is noticed within seconds), doubling would wait until 150 s.
SPECTORA_PROBE_GROWTH = env.float("SPECTORA_PROBE_GROWTH", default=1.5)

# Operations (docs/operations.md): the heartbeat behind /health/, /metrics, retention.
ATTIK_HEARTBEAT_SECONDS = env.float("ATTIK_HEARTBEAT_SECONDS", default=30.0)
ATTIK_HEARTBEAT_STALE_SECONDS = env.float("ATTIK_HEARTBEAT_STALE_SECONDS", default=120.0)
# When set, GET /metrics needs "Authorization: Bearer <token>".
ATTIK_METRICS_TOKEN = env.str("ATTIK_METRICS_TOKEN", default="")
# Rows older than these are deleted daily (and by `manage.py prune`); a workorder's
# latest run is always kept.
ATTIK_RETAIN_SYNC_CALLS_DAYS = env.int("ATTIK_RETAIN_SYNC_CALLS_DAYS", default=30)
ATTIK_RETAIN_SYNC_RUNS_DAYS = env.int("ATTIK_RETAIN_SYNC_RUNS_DAYS", default=90)
ATTIK_RETAIN_WEBHOOKS_DAYS = env.int("ATTIK_RETAIN_WEBHOOKS_DAYS", default=14)
ATTIK_RETAIN_ACTIVITY_DAYS = env.int("ATTIK_RETAIN_ACTIVITY_DAYS", default=365)
ATTIK_PRUNE_BATCH_SIZE = env.int("ATTIK_PRUNE_BATCH_SIZE", default=5000)

CELERY_BEAT_SCHEDULE = {
    "spectora-sweep-outbox": {"task": "spectora.sweep_outbox", "schedule": 30.0},
    "spectora-drift-scan": {
        "task": "spectora.drift_scan", "schedule": SPECTORA_DRIFT_SCAN_SECONDS,
    },
    # A heartbeat nobody runs is worthless later: it expires instead of piling up.
    "operations-heartbeat": {
        "task": "operations.heartbeat", "schedule": ATTIK_HEARTBEAT_SECONDS,
        "options": {"expires": ATTIK_HEARTBEAT_SECONDS * 2},
    },
    # The same on the background lane: a worker must consume each lane (Procfile).
    "operations-heartbeat-background": {
        "task": "operations.heartbeat", "schedule": ATTIK_HEARTBEAT_SECONDS,
        "kwargs": {"lane": "background"},
        "options": {"expires": ATTIK_HEARTBEAT_SECONDS * 2,
                    "queue": CELERY_TASK_DEFAULT_QUEUE + CELERY_BACKGROUND_SUFFIX},
    },
    "operations-prune": {
        "task": "operations.prune",
        "schedule": crontab(hour=env.int("ATTIK_PRUNE_HOUR", default=3), minute=17),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Logs: one JSON object per line in production, text in the demo (LOG_FORMAT
# overrides). Every line carries the request id and, in a sync, the company,
# workorder, sync run and attempt (attik/logcontext.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if ATTIK_DEMO_MODE else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "attik.logcontext.LogContextFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s%(context)s"},
        "json": {"()": "attik.logcontext.json_formatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
