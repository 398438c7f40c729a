"""The circuit breaker of one Spectora connection, shared by every worker.

When Spectora stops answering (``SPECTORA_BREAKER_FAILURES`` 5xx answers,
timeouts or refused connections in a row within
``SPECTORA_BREAKER_WINDOW_SECONDS``), the connection is paused: runs stay
queued without using attempts, and one probe (the cheapest read) goes out when
``paused_until`` comes, at an interval growing by ``SPECTORA_PROBE_GROWTH`` from
``SPECTORA_PROBE_BASE_SECONDS`` to ``SPECTORA_PROBE_CAP_SECONDS``. The first
answer resumes the connection and sends its queued runs back to the workers,
in order. Admins get one email when it pauses and one when it resumes.

The state lives in the connection's row. Every change is one conditional
UPDATE, so any number of workers agree: one trips the pause, one claims each
probe, one resumes. 423 (Sync Lock), 429 and other answers are Spectora
answering: they never count, and they end a streak.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Case, F, Value, When
from django.utils import timezone

from spectora_integration.client import SpectoraClient, SpectoraError
from spectora_integration.models import RunState, SpectoraConnection, SyncOutbox, SyncRun
from spectora_integration.queueing import enqueue_run
from workorders.models import Membership, Role

log = logging.getLogger(__name__)

OUTAGE_CODES = ("timeout", "unreachable")


def is_outage(error: SpectoraError) -> bool:
    """A failure that says Spectora is not answering (not one it answered with)."""
    if error.permanent:
        return False
    if error.status is not None:
        return error.status >= 500
    return error.code in OUTAGE_CODES


def _base() -> float:
    return settings.SPECTORA_PROBE_BASE_SECONDS


def _cap() -> float:
    return max(settings.SPECTORA_PROBE_CAP_SECONDS, _base())


def record_failure(connection_id: int) -> bool:
    """Count one outage failure; True when it is the one that paused the connection."""
    now = timezone.now()
    window_start = now - timedelta(seconds=settings.SPECTORA_BREAKER_WINDOW_SECONDS)
    in_streak = When(failing_since__gte=window_start, then=F("consecutive_failures") + 1)
    connection = SpectoraConnection.objects.filter(pk=connection_id)
    connection.update(
        consecutive_failures=Case(in_streak, default=Value(1)),
        failing_since=Case(When(failing_since__gte=window_start, then=F("failing_since")),
                           default=Value(now)),
    )
    tripped = connection.filter(
        paused_at__isnull=True, failing_since__gte=window_start,
        consecutive_failures__gte=settings.SPECTORA_BREAKER_FAILURES,
    ).update(paused_at=now, paused_until=now + timedelta(seconds=_base()),
             probe_interval=_base())
    if tripped:
        paused = SpectoraConnection.objects.select_related("company").get(pk=connection_id)
        log.warning("Spectora connection %s paused: %s failures in a row", connection_id,
                    paused.consecutive_failures)
        notify_admins(
            paused.company_id,
            subject="Spectora is not answering: syncs are paused",
            message=(
                f"{paused.pause_message}\n\nSpectora stopped answering Attik (server errors "
                "or timeouts). Syncs wait in the queue without using their retries; Attik "
                "checks Spectora now and then and sends them as soon as it answers. You will "
                "get one more email then. Nothing needs doing."
            ),
        )
    return bool(tripped)


def record_answer(connection_id: int) -> None:
    """Spectora answered a call: a streak of failures ends."""
    SpectoraConnection.objects.filter(pk=connection_id, consecutive_failures__gt=0).update(
        consecutive_failures=0, failing_since=None
    )


def paused(connection_id: int) -> SpectoraConnection | None:
    """The connection if it is paused now (a fresh read), else None."""
    return SpectoraConnection.objects.filter(pk=connection_id, paused_at__isnull=False).first()


def try_probe(connection: SpectoraConnection) -> bool:
    """Probe Spectora if a probe is due and this worker claims it; True once resumed."""
    now = timezone.now()
    interval = min(_cap(), max(connection.probe_interval, _base()) * settings.SPECTORA_PROBE_GROWTH)
    claimed = SpectoraConnection.objects.filter(
        pk=connection.pk, paused_at__isnull=False, paused_until__lte=now
    ).update(paused_until=now + timedelta(seconds=interval), probe_interval=interval)
    if not claimed:
        return False
    try:
        SpectoraClient.for_connection(connection).ping()
    except SpectoraError as error:
        if is_outage(error) or error.code == "rate_limited_locally":
            SpectoraConnection.objects.filter(pk=connection.pk, paused_at__isnull=False).update(
                paused_until=timezone.now() + timedelta(seconds=interval)
            )
            log.info("Spectora probe for connection %s failed (%s); next in %.0f s",
                     connection.pk, error.code, interval)
            return False
        # Any other answer (401, 403, 429, ...) is Spectora answering: the runs find out.
    resume(connection.pk)
    return True


def probe_soon(company_id: int) -> bool:
    """A person asked for a sync while paused: make the next probe due now, unless one
    went out less than the base interval ago (so clicks never add more than one probe
    per base interval). The interval itself keeps growing while probes fail."""
    connection = SpectoraConnection.objects.filter(
        company_id=company_id, paused_at__isnull=False).first()
    if connection is None or connection.paused_until is None:
        return False
    now = timezone.now()
    last_probe = connection.paused_until - timedelta(seconds=connection.probe_interval)
    if connection.paused_until <= now or (now - last_probe).total_seconds() < _base():
        return False
    return bool(SpectoraConnection.objects.filter(
        pk=connection.pk, paused_at__isnull=False, paused_until=connection.paused_until,
    ).update(paused_until=now))


def resume(connection_id: int) -> bool:
    """End the pause (once, whoever calls it) and send the waiting runs, oldest first."""
    connection = SpectoraConnection.objects.filter(pk=connection_id, paused_at__isnull=False)
    paused_since = connection.values_list("paused_at", flat=True).first()
    resumed = connection.update(paused_at=None, paused_until=None, probe_interval=0.0,
                                consecutive_failures=0, failing_since=None)
    if not resumed:
        return False
    company_id = SpectoraConnection.objects.values_list("company_id", flat=True).get(
        pk=connection_id)
    count = requeue_waiting(company_id)
    since = timezone.localtime(paused_since) if paused_since else None
    log.warning("Spectora connection %s resumed; %s queued runs sent", connection_id, count)
    notify_admins(
        company_id,
        subject="Spectora answers again: syncs resumed",
        message=(
            f"Spectora answers Attik again"
            f"{f' (it stopped at {since.hour}:{since.minute:02d})' if since else ''}. "
            f"The {count} sync{'s' if count != 1 else ''} that waited are being sent now, "
            "in order. Nothing needs doing."
        ),
    )
    return True


def requeue_waiting(company_id: int) -> int:
    """Send the company's queued runs now, oldest first, spaced by the rate limit."""
    connection = SpectoraConnection.objects.filter(company_id=company_id).first()
    spacing = 1.0 / max(getattr(connection, "rate_limit_per_second", 10) or 10, 1)
    now = timezone.now()
    waiting = list(SyncRun.objects.filter(company_id=company_id, state=RunState.QUEUED)
                   .order_by("created_at", "id").values_list("id", flat=True))
    for index, run_id in enumerate(waiting):
        countdown = index * spacing
        SyncRun.objects.filter(pk=run_id, state=RunState.QUEUED).update(
            next_attempt_at=now + timedelta(seconds=countdown))
        SyncOutbox.objects.filter(run_id=run_id).update(enqueued_at=now)
        enqueue_run(run_id, countdown)
    return len(waiting)


def notify_admins(company_id: int, *, subject: str, message: str) -> None:
    emails = list(
        Membership.objects.filter(company_id=company_id, role=Role.ADMIN)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if emails:
        send_mail(subject=subject, message=message, from_email=settings.DEFAULT_FROM_EMAIL,
                  recipient_list=emails, fail_silently=True)
