"""Prometheus metrics, read from the database at scrape time.

Nothing is counted in process memory, so every gunicorn process answers a
scrape with the same figures whatever process or worker did the work. The
``*_total`` families are *gauges of the rows kept*: they count the SyncRun,
SyncCall and InboundWebhook rows inside the retention window (see
docs/operations.md), so they drop when the daily prune deletes old rows and a
run moves from ``queued`` to ``succeeded``. Use ``delta()`` over short ranges,
not ``rate()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import Count, F, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from spectora_integration.models import (
    InboundWebhook,
    RunState,
    SpectoraConnection,
    SyncCall,
    SyncRun,
)
from spectora_integration.sync import selectors

DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
DURATION_WINDOW = timedelta(hours=24)


def connections_paused(now: datetime) -> dict[int, bool]:
    """Each connection: is the circuit breaker holding its syncs?"""
    return {
        connection.pk: selectors.paused_until(connection, now=now) is not None
        for connection in SpectoraConnection.objects.order_by("pk")
    }


def _webhook_outcomes() -> dict[str, int]:
    return InboundWebhook.objects.aggregate(
        processed=Count("pk", filter=Q(processed_at__isnull=False)),
        failed=Count("pk", filter=Q(processed_at__isnull=True) & ~Q(error="")),
        pending=Count("pk", filter=Q(processed_at__isnull=True, error="")),
    )


def _durations(now: datetime) -> list[float]:
    finished = SyncRun.objects.filter(
        created_at__gte=now - DURATION_WINDOW,
        state__in=[RunState.SUCCEEDED, RunState.FAILED],
        started_at__isnull=False, finished_at__isnull=False,
    ).annotate(took=F("finished_at") - F("started_at"))
    return [max(0.0, took.total_seconds()) for took in finished.values_list("took", flat=True)]


def _histogram(name: str, doc: str, values: list[float]) -> HistogramMetricFamily:
    buckets = [(str(b), sum(1 for v in values if v <= b)) for b in DURATION_BUCKETS]
    buckets.append(("+Inf", len(values)))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=sum(values))


class DatabaseCollector:
    """Every Attik metric, computed by a handful of grouped queries per scrape."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        runs = GaugeMetricFamily(
            "attik_sync_runs_total",
            "Sync runs kept (retention window) by current state and trigger.",
            labels=["state", "trigger"],
        )
        for row in SyncRun.objects.values("state", "trigger").annotate(n=Count("pk")).order_by():
            runs.add_metric([row["state"], row["trigger"]], row["n"])
        yield runs

        calls = GaugeMetricFamily(
            "attik_spectora_calls_total",
            "Spectora API calls kept (retention window) by method and HTTP status "
            "(status \"none\": no answer, e.g. a timeout).",
            labels=["method", "status"],
        )
        for row in SyncCall.objects.values("method", "status").annotate(n=Count("pk")).order_by():
            status = "none" if row["status"] is None else str(row["status"])
            calls.add_metric([row["method"], status], row["n"])
        yield calls

        queue = selectors.sync_queue(SyncRun.objects.all(), now=now)
        yield GaugeMetricFamily("attik_sync_queue_depth",
                                "Sync runs queued and due now.", value=queue["queued"])
        yield GaugeMetricFamily("attik_sync_retrying",
                                "Sync runs waiting out a retry backoff.", value=queue["retrying"])
        yield GaugeMetricFamily("attik_sync_running",
                                "Sync runs being executed.", value=queue["running"])
        yield GaugeMetricFamily(
            "attik_sync_oldest_queued_seconds",
            "How long the oldest due run has waited for a worker (0: none).",
            value=queue["oldest_queued_seconds"],
        )
        yield _histogram(
            "attik_sync_duration_seconds",
            "Start-to-finish time of runs created in the last 24 h that succeeded or failed.",
            _durations(now),
        )

        paused = GaugeMetricFamily(
            "attik_connection_paused",
            "1 while the circuit breaker holds a Spectora connection's syncs.",
            labels=["connection"],
        )
        for pk, is_paused in sorted(connections_paused(now).items()):
            paused.add_metric([str(pk)], 1 if is_paused else 0)
        yield paused

        deliveries = GaugeMetricFamily(
            "attik_webhook_deliveries_total",
            "Inbound webhook deliveries kept (retention window) by outcome.",
            labels=["outcome"],
        )
        for outcome, n in _webhook_outcomes().items():
            deliveries.add_metric([outcome], n)
        yield deliveries


def registry() -> CollectorRegistry:
    found = CollectorRegistry(auto_describe=False)
    found.register(DatabaseCollector())
    return found
