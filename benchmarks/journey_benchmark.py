"""Server time of each page of the office journey: log in, find, Sync, synced, Open.

    .venv/bin/python benchmarks/journey_benchmark.py [--workorders 500] [--rounds 20]

The goal (office-day issue): every page of the journey stays under 1 s of server
time. A throwaway embedded install (SQLite + the filesystem broker) unless
``DATABASE_URL`` / ``CELERY_BROKER_URL`` are set; the demo's data shape (one
company connected to the sandbox, ``--workorders`` booked workorders with two
linked inspectors and two mapped services). Each page is requested through
Django's test client in-process, so the time is the server's: view, queries,
templates, middleware. The sync itself runs in-process between "Sync" and
"synced" (its HTTP calls to the sandbox are Spectora's time, not a page's).
Prints p50 / p95 / max per page and writes benchmarks/results/journey_benchmark.json.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from harness import machine_load, setup_django, summary, write_result


def seed(wired, n: int) -> list:
    from django.utils import timezone

    from tests.factories import WorkorderFactory
    from workorders.models import Assignment, LineItem

    when = timezone.now() + timedelta(days=1)
    rows = []
    for i in range(n):
        wo = WorkorderFactory(company=wired.connection.company, address=f"{i} Juniper Court",
                              client_name=f"Client {i}", scheduled_at=when + timedelta(hours=i))
        Assignment.objects.create(workorder=wo, employee=wired.inspectors[0], primary=True)
        Assignment.objects.create(workorder=wo, employee=wired.inspectors[1], primary=False)
        for service in wired.services[:2]:
            LineItem.objects.create(workorder=wo, service=service,
                                    price_cents=service.price_cents, quantity=1)
        rows.append(wo)
    return rows


def journey(client, user, workorder, timings: dict) -> None:
    from django.urls import reverse

    from spectora_integration.models import SpectoraLink, SyncRun
    from spectora_integration.sync import engine

    def timed(name, call):
        started = time.perf_counter()
        response = call()
        timings.setdefault(name, []).append(time.perf_counter() - started)
        assert response.status_code < 400, (name, response.status_code)
        return response

    client.logout()
    timed("login page", lambda: client.get("/login/"))
    timed("log in (POST)", lambda: client.post(
        "/login/", {"username": user.username, "password": "pw-journey-1"}))
    timed("dashboard", lambda: client.get("/"))
    timed("list, search", lambda: client.get(
        reverse("workorders:list"), {"search": workorder.client_name}))
    detail = reverse("workorders:detail", args=[workorder.pk])
    timed("workorder", lambda: client.get(detail))
    timed("Sync (POST)", lambda: client.post(
        reverse("spectora:workorder_sync", args=[workorder.pk])))
    run = SyncRun.objects.filter(workorder=workorder).order_by("-id").first()
    engine.sync_execute(run.pk)  # the worker's part, not a page
    timed("chip (synced)", lambda: client.get(
        reverse("spectora:sync_chip", args=[workorder.pk]), {"banner": "1"}))
    page = timed("workorder, synced", lambda: client.get(detail))
    url = SpectoraLink.objects.get(workorder=workorder).web_url
    assert url and url.encode() in page.content, "Open Spectora job links the job"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workorders", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    setup_django()
    from django.test import Client
    from django.test.utils import setup_test_environment

    from spectora_integration import queueing
    from spectora_sandbox import start_sandbox
    from tests.factories import CompanyFactory, member
    from tests.spectora_fixtures import connect_company
    from workorders.models import Role

    setup_test_environment()
    queueing.enqueue = lambda *a, **k: None  # runs are executed in-process here
    sandbox = start_sandbox()
    try:
        wired = connect_company(CompanyFactory(), sandbox)
        workorders = seed(wired, args.workorders)
        user = member(wired.connection.company, Role.OFFICE_STAFF)
        user.set_password("pw-journey-1")
        user.save()
        client = Client()
        timings: dict[str, list[float]] = {}
        load_before = machine_load()
        for index in range(args.rounds):
            journey(client, user, workorders[index * 7 % len(workorders)], timings)
    finally:
        sandbox.stop()
    pages = {name: summary([t * 1000 for t in values]) for name, values in timings.items()}
    worst = max(page["max_ms"] for page in pages.values())
    print(f"office journey, {args.rounds} rounds, {args.workorders} workorders "
          "(server time per page, ms):")
    for name, figures in pages.items():
        print(f"  {name:<20} p50 {figures['p50_ms']:7.1f}  p95 {figures['p95_ms']:7.1f}  "
              f"max {figures['max_ms']:7.1f}")
    print(f"slowest page: {worst:.0f} ms (goal: under 1000 ms)")
    write_result("journey_benchmark", {
        "workorders": args.workorders, "rounds": args.rounds, "pages_ms": pages,
        "slowest_ms": round(worst, 1), "goal_ms": 1000, "load": load_before,
    })


if __name__ == "__main__":
    main()
