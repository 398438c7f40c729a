"""How fast the receiver acknowledges a burst of Spectora webhooks.

    .venv/bin/python benchmarks/webhook_burst.py [--deliveries 2000] [--threads 8]

A throwaway embedded install (temporary ATTIK_VAR_DIR: SQLite + the filesystem
broker), one connected company, then 2,000 Standard-Webhooks-signed deliveries
(10 % of them repeats of an earlier ``webhook-id``) posted through the Django
test client: once one after another, once from several threads at a time. Each
acknowledgement includes verifying the signature, storing the delivery and
queueing its task on the broker; nothing is processed (no worker runs) and
Spectora is never called. Prints throughput and p50/p95/p99 acknowledgement
latency and writes them to benchmarks/results/webhook_burst.json.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import percentile, setup_django, write_result

DUPLICATE_SHARE = 0.10


def build_deliveries(count: int, secret: str, prefix: str, rng: random.Random) -> list:
    """(webhook-id, body) pairs; a share of them repeat an earlier id, as Spectora may."""
    from spectora_sandbox.webhooks import event_body

    unique = count - int(count * DUPLICATE_SHARE)
    deliveries = []
    for n in range(unique):
        event = rng.choice(["inspection.created", "inspection.updated", "inspection.updated"])
        body = event_body(event, str(1001 + n % 500), "2030-01-01T00:00:00.000000Z")
        deliveries.append((f"{prefix}-{n}", body))
    deliveries += [rng.choice(deliveries) for _ in range(count - unique)]
    rng.shuffle(deliveries)
    return deliveries


def post_all(deliveries, url: str, secret: str, threads: int) -> tuple[list[float], dict, float]:
    from django.db import connection
    from django.test import Client

    from spectora_sandbox.webhooks import sign

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    chunks = [deliveries[i::threads] for i in range(threads)]

    def worker(chunk) -> None:
        client = Client()
        mine, codes = [], {}
        try:
            for msg_id, body in chunk:
                timestamp = int(time.time())
                headers = {
                    "webhook-id": msg_id,
                    "webhook-timestamp": str(timestamp),
                    "webhook-signature": sign(secret, msg_id, timestamp, body),
                }
                started = time.perf_counter()
                response = client.post(url, data=body, content_type="application/json",
                                       headers=headers)
                mine.append((time.perf_counter() - started) * 1000)
                codes[response.status_code] = codes.get(response.status_code, 0) + 1
        finally:
            connection.close()
        with lock:
            latencies.extend(mine)
            for code, n in codes.items():
                statuses[code] = statuses.get(code, 0) + n

    started = time.perf_counter()
    if threads == 1:
        worker(deliveries)
    else:
        pool = [threading.Thread(target=worker, args=(c,)) for c in chunks]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    return latencies, statuses, time.perf_counter() - started


def summary(latencies, statuses, elapsed, count) -> dict:
    return {
        "deliveries": count,
        "seconds": round(elapsed, 3),
        "deliveries_per_second": round(count / elapsed, 1),
        "ack_ms": {
            "p50": round(percentile(latencies, 50), 2),
            "p95": round(percentile(latencies, 95), 2),
            "p99": round(percentile(latencies, 99), 2),
            "max": round(max(latencies), 2),
        },
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    setup_django()
    from django.urls import reverse

    from spectora_integration.models import ConnectionState, InboundWebhook, SpectoraConnection
    from spectora_sandbox.webhooks import generate_secret
    from workorders.models import Company

    company = Company.objects.create(name="Burst Inspections", slug="burst")
    secret = generate_secret()
    connection = SpectoraConnection(company=company, base_url="http://127.0.0.1:9",
                                    state=ConnectionState.CONNECTED)
    connection.set_api_key("bench-key-0000")
    connection.set_webhook_secret(secret)
    connection.save()
    url = reverse("spectora_webhook", args=[connection.pk])
    rng = random.Random(2000)

    phases = {}
    for name, threads in (("sequential", 1), (f"{args.threads}_threads", args.threads)):
        deliveries = build_deliveries(args.deliveries, secret, name, rng)
        unique = len({msg_id for msg_id, _ in deliveries})
        before = InboundWebhook.objects.count()
        latencies, statuses, elapsed = post_all(deliveries, url, secret, threads)
        stored = InboundWebhook.objects.count() - before
        result = summary(latencies, statuses, elapsed, len(deliveries))
        result.update(threads=threads, unique_webhook_ids=unique, stored=stored)
        assert stored == unique, (stored, unique)
        assert statuses.get(202, 0) == unique and statuses.get(200, 0) == len(deliveries) - unique
        phases[name] = result
        print(f"{name:>12}: {result['deliveries']} deliveries in {result['seconds']} s = "
              f"{result['deliveries_per_second']} /s; ack p50 {result['ack_ms']['p50']} ms, "
              f"p95 {result['ack_ms']['p95']} ms, p99 {result['ack_ms']['p99']} ms "
              f"(statuses {result['statuses']}, {stored} stored)")

    path = write_result("webhook_burst", {
        "what": "Signed Spectora webhooks posted to the receiver through the Django test "
                "client; each ack verifies, stores and enqueues (no worker, no Spectora call). "
                f"{int(DUPLICATE_SHARE * 100)} % repeat an earlier webhook-id.",
        "phases": phases,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
