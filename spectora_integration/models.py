"""Everything Attik stores about Spectora: the connection, links, sync runs, webhooks."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from spectora_integration import crypto
from spectora_integration.client.egress import job_url
from workorders.models import Company, Workorder

# What a person calls each secret, for crypto.SecretUnreadable's message.
API_KEY = "Spectora API key"
WEBHOOK_SECRET = "Spectora webhook secret"
SECRET_FIELDS = {
    "api_key_encrypted": API_KEY,
    "webhook_secret_encrypted": WEBHOOK_SECRET,
    "previous_webhook_secret_encrypted": WEBHOOK_SECRET,
}


class ConnectionState(models.TextChoices):
    CONNECTED = "connected", "Connected"
    DISCONNECTED = "disconnected", "Disconnected"
    FAILING = "failing", "Failing"


class SpectoraConnection(models.Model):
    """A company's API access to Spectora. Secrets are encrypted and never shown back."""

    company = models.OneToOneField(
        Company, on_delete=models.CASCADE, related_name="spectora_connection"
    )
    base_url = models.URLField(default="https://connect.spectora.com")
    api_key_encrypted = models.TextField(blank=True, editable=False)
    api_key_last4 = models.CharField(max_length=4, blank=True, editable=False)
    webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    previous_webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    state = models.CharField(
        max_length=14, choices=ConnectionState.choices, default=ConnectionState.DISCONNECTED
    )
    rate_limit_per_second = models.PositiveIntegerField(default=10)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    drift_watermark = models.DateTimeField(null=True, blank=True)
    # The circuit breaker (sync/breaker.py), shared by every worker through these columns.
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)  # first failure of the streak
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_until = models.DateTimeField(null=True, blank=True)  # when the next probe is due
    probe_interval = models.FloatField(default=0.0)  # seconds, doubling while probes fail
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Spectora for {self.company}"

    @property
    def api_key(self) -> str:
        """"" when none is stored; ``crypto.SecretUnreadable`` when no key decrypts it."""
        return crypto.decrypt(self.api_key_encrypted, what=API_KEY)

    def set_api_key(self, value: str) -> None:
        self.api_key_encrypted = crypto.encrypt(value)
        self.api_key_last4 = value[-4:] if len(value) >= 8 else ""

    @property
    def webhook_secrets(self) -> list[str]:
        """Current secret first, then the one being rotated out."""
        found = [
            crypto.decrypt(self.webhook_secret_encrypted, what=WEBHOOK_SECRET),
            crypto.decrypt(self.previous_webhook_secret_encrypted, what=WEBHOOK_SECRET),
        ]
        return [s for s in found if s]

    def set_webhook_secret(self, value: str) -> None:
        if self.webhook_secret_encrypted:
            self.previous_webhook_secret_encrypted = self.webhook_secret_encrypted
        self.webhook_secret_encrypted = crypto.encrypt(value)

    @property
    def is_connected(self) -> bool:
        return self.state != ConnectionState.DISCONNECTED and bool(self.api_key_encrypted)

    @property
    def is_paused(self) -> bool:
        """Spectora stopped answering: syncs wait, and one probe checks now and then."""
        return self.paused_at is not None

    @property
    def paused_since(self):
        return self.paused_at

    @property
    def pause_message(self) -> str:
        if self.paused_at is None:
            return ""
        since = timezone.localtime(self.paused_at)
        return (f"Spectora is not answering since {since.hour}:{since.minute:02d}; "
                "Attik will catch up by itself.")


class SyncState(models.TextChoices):
    NEVER = "never", "Never synced"
    QUEUED = "queued", "Queued"
    SYNCING = "syncing", "Syncing"
    SYNCED = "synced", "Synced"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class SpectoraLink(models.Model):
    """A workorder's twin in Spectora. ``remote_id`` is empty until the job exists."""

    workorder = models.OneToOneField(
        Workorder, on_delete=models.CASCADE, related_name="spectora_link"
    )
    remote_id = models.CharField(max_length=64, null=True, blank=True)
    url = models.URLField(blank=True)
    sync_state = models.CharField(max_length=10, choices=SyncState.choices, default=SyncState.NEVER)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_synced_hash = models.CharField(max_length=64, blank=True)
    last_error = models.CharField(max_length=1000, blank=True)
    remote_updated_at = models.DateTimeField(null=True, blank=True)
    cancel_pending = models.BooleanField(default=False)
    drift_detected_at = models.DateTimeField(null=True, blank=True)
    # Spectora-origin imports: what Attik could not map ({"inspectors": [...], "services":
    # [...]}, each {"id", "name"}), and when Spectora deleted the job (then it is final).
    import_missing = models.JSONField(default=dict, blank=True)
    remote_deleted_at = models.DateTimeField(null=True, blank=True)
    # The workorder's lock for Spectora work: claimed with a conditional UPDATE.
    lease_run_id = models.BigIntegerField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["remote_id"], condition=models.Q(remote_id__isnull=False),
                name="spectoralink_unique_remote",
            )
        ]

    def __str__(self) -> str:
        return f"{self.workorder} -> {self.remote_id or 'not created'}"

    @property
    def web_url(self) -> str:
        """``url`` if a person may open it (https; http to loopback in demo mode), else ""."""
        return job_url(self.url, warn=False)

    @property
    def linked(self) -> bool:
        return bool(self.remote_id)


class RunState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class RunKind(models.TextChoices):
    SYNC = "sync", "Sync"
    CANCEL = "cancel", "Cancel"


class Trigger(models.TextChoices):
    MANUAL = "manual", "Actions menu"
    API = "api", "API"
    ADMIN = "admin", "Admin action"
    AUTO = "auto", "Automatic after a change"
    RETRY = "retry", "Retry"
    CANCEL = "cancel", "Cancellation"
    DRIFT = "drift", "Drift repair"
    BULK = "bulk", "Bulk sync"  # Sync all upcoming, or the workorders a fixed link waited for


class SyncBatch(models.Model):
    """One "Sync all upcoming workorders": its runs point here, so the page shows progress."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    force = models.BooleanField(default=False)
    total = models.PositiveIntegerField(default=0)  # workorders queued (new runs and joined ones)
    skipped = models.PositiveIntegerField(default=0)  # upcoming workorders left out
    # Why they were left out, one group per reason (sync.bulk.SkipGroup.as_dict): the
    # reason, its fix page, how many, and the first workorders it names (pk, "WO-1022").
    left_out = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["company", "-created_at"], name="syncbatch_company")]

    def __str__(self) -> str:
        return f"Bulk sync of {self.total} workorders ({self.created_at:%Y-%m-%d %H:%M})"


# A person asked (page, API, admin action, retry from Failed syncs): served ahead of
# automatic, drift and bulk runs, on the workers' first queue and in the rate limiter.
PERSON_TRIGGERS = (Trigger.MANUAL, Trigger.API, Trigger.ADMIN, Trigger.RETRY)


class SyncRun(models.Model):
    """One requested sync of one workorder: a visible row with its attempts and calls."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    workorder = models.ForeignKey(Workorder, on_delete=models.CASCADE, related_name="sync_runs")
    kind = models.CharField(max_length=10, choices=RunKind.choices, default=RunKind.SYNC)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requesters = models.JSONField(default=list, blank=True)
    force = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=RunState.choices, default=RunState.QUEUED)
    reason = models.CharField(max_length=1000, blank=True)
    reason_code = models.CharField(max_length=40, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    deferrals = models.PositiveIntegerField(default=0)  # waits for the rate limit, not failures
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    # The X-Request-ID of the click that queued the run: its worker's log lines carry it.
    request_id = models.CharField(max_length=64, blank=True)
    # The latest "Sync all" this run serves (a later one takes over a run still queued).
    batch = models.ForeignKey(
        SyncBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["company", "state"], name="syncrun_company_state"),
            models.Index(fields=["workorder", "state"], name="syncrun_workorder_state"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.workorder} ({self.state})"

    @property
    def urgent(self) -> bool:
        """A person is waiting for it: one of its requesters clicked, or it is a cancel
        (it follows a person's Cancel, and an inspector must not drive to a cancelled job)."""
        return self.kind == RunKind.CANCEL or is_urgent(self.trigger, self.requesters)


def is_urgent(trigger: str, requesters: list | None = None) -> bool:
    triggers = {trigger, *(r.get("trigger") for r in requesters or [])}
    return any(t in PERSON_TRIGGERS for t in triggers)


class SyncCall(models.Model):
    """One HTTP call a run made, with redacted bodies."""

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="calls")
    attempt = models.PositiveIntegerField(default=1)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    status = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    request_body = models.JSONField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status or self.error}"


class SyncOutbox(models.Model):
    """A run waiting for a worker. Written with the run; the sweeper re-enqueues stragglers."""

    run = models.OneToOneField(SyncRun, on_delete=models.CASCADE, related_name="outbox")
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    enqueue_count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"outbox for run {self.run_id}"


class InboundWebhook(models.Model):
    connection = models.ForeignKey(
        SpectoraConnection, on_delete=models.CASCADE, related_name="webhooks"
    )
    webhook_id = models.CharField(max_length=100)
    event_type = models.CharField(max_length=60, blank=True)
    inspection_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "webhook_id"], name="inboundwebhook_unique_delivery"
            )
        ]
        indexes = [
            models.Index(fields=["connection", "inspection_id"], name="inboundwebhook_inspection"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.webhook_id}"


class RateLimitSlot(models.Model):
    """The next free call time for one rate-limit key (see ratelimit.py)."""

    key = models.CharField(max_length=100, unique=True)
    next_at = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return self.key
