import pytest

from tests.factories import CompanyFactory, member
from workorders.models import Role


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.AXES_ENABLED = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def company(db):
    return CompanyFactory(name="Acme Inspections", slug="acme-test")


@pytest.fixture
def other_company(db):
    return CompanyFactory(name="Other Inspections", slug="other-test")


@pytest.fixture
def admin_user(company):
    return member(company, Role.ADMIN, username="acme-admin")


@pytest.fixture
def office_user(company):
    return member(company, Role.OFFICE_STAFF, username="acme-office")


@pytest.fixture
def scheduler_user(company):
    return member(company, Role.SCHEDULER, username="acme-scheduler")


@pytest.fixture
def other_admin(other_company):
    return member(other_company, Role.ADMIN, username="other-admin-test")


@pytest.fixture
def office_client(client, office_user):
    client.force_login(office_user)
    return client


# ---------------------------------------------------------------- Spectora sandbox

@pytest.fixture(scope="session")
def sandbox_server():
    from spectora_sandbox import start_sandbox

    server = start_sandbox()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server):
    """The sandbox over real HTTP, reset for each test."""
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture
def sandbox_webhooks_to(sandbox):
    """Point the sandbox's webhooks at a URL for one test; always point them away after."""
    import requests

    def configure(url: str, secret: str) -> None:
        response = requests.post(f"{sandbox.url}/_sandbox/webhook_config",
                                 json={"url": url, "secret": secret}, timeout=5)
        response.raise_for_status()

    original = sandbox.webhooks.config()
    yield configure
    sandbox.webhooks.configure(url=None, secret=original["secret"])
    sandbox.webhooks.wait_idle(10)


@pytest.fixture
def spectora(company, sandbox):
    """``company`` connected to the sandbox, with linked inspectors and mapped services."""
    from tests.spectora_fixtures import connect_company

    return connect_company(company, sandbox)


# ---------------------------------------------------------------- real Celery worker

@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real worker on its own queue, against the test database (session-wide)."""
    from django.conf import settings as django_settings

    from tests.worker import WorkerProcess, unique_queue

    queue = unique_queue()
    original = django_settings.CELERY_TASK_DEFAULT_QUEUE
    django_settings.CELERY_TASK_DEFAULT_QUEUE = queue
    with django_db_blocker.unblock():
        worker = WorkerProcess(queue).start()
    yield worker
    worker.stop()
    django_settings.CELERY_TASK_DEFAULT_QUEUE = original


# ---------------------------------------------------------------- no broker

QUEUES = {"run_sync": "runs", "process_webhook": "deliveries", "refresh_workorder": "refreshes"}


@pytest.fixture
def queued(monkeypatch):
    """No broker: records what would be sent to the workers; the test runs it itself.

    ``sent["lanes"]`` holds (run id, "first" or "background") for each run sent."""
    sent = {name: [] for name in QUEUES.values()}
    sent["lanes"] = []

    def enqueue(task_name, *args, countdown=0, fallback="", background=False):
        sent[QUEUES[task_name]].append(args[0])
        if task_name == "run_sync":
            sent["lanes"].append((args[0], "background" if background else "first"))

    from spectora_integration import queueing

    monkeypatch.setattr(queueing, "enqueue", enqueue)
    return sent


@pytest.fixture
def no_auto_sync_on_booking(monkeypatch):
    """Booking does not sync by itself here: these tests study Sync on a never-synced job."""
    from spectora_integration import integration

    monkeypatch.setattr(integration, "workorder_booked", lambda workorder, *, user: None)
