"""What the workorder list's templates cost, as a share of the whole request.

    .venv/bin/python benchmarks/list_render.py [--rows 500] [--repeat 60] [--output list_render]

A throwaway embedded install (SQLite) unless ``DATABASE_URL`` is set. One company
with ``--rows`` workorders (a third with a Spectora link in assorted sync states),
one office user; the first list page (25 rows) through Django's test client, two
ways, in alternation so both meet the same machine:

- ``full``: the page as served;
- ``no_templates``: the same view with ``render`` replaced by an empty response, so
  everything but the templates (middleware, session, filters, the list's queries).

``templates = full - no_templates``. On a shared machine absolute times drift, so
the figure to compare before/after a template change is ``templates / no_templates``
(the templates' cost in units of the rest of the same request, same run).

``--compare-with REV`` also renders the list's results partial
(``workorders/_list_results.html``) as it is at git revision REV and as it is now,
with the same context, in alternation: ``old / new`` is the change's effect on the
results template alone, free of the machine's drift.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    ROOT,
    machine_load,
    percentile,
    setup_django,
    write_result,
)
from benchmarks.load_seed import seed_workorders, staff_users


def build(rows: int, rng: random.Random):
    from django.utils import timezone

    from spectora_integration.models import SpectoraLink, SyncState
    from workorders.models import Company, Employee, Service, ServiceKind

    company = Company.objects.create(name="Render Inspections", slug="render")
    employees = Employee.objects.bulk_create(
        [Employee(company=company, name=f"Inspector {n}") for n in range(8)])
    primaries = Service.objects.bulk_create(
        [Service(company=company, name=f"Home inspection {n}", price_cents=40000)
         for n in range(2)])
    add_ons = Service.objects.bulk_create(
        [Service(company=company, name=f"Add-on {n}", kind=ServiceKind.ADD_ON,
                 price_cents=5000) for n in range(4)])
    ids = seed_workorders(company, rows, employees, primaries, add_ons, rng)
    states = [SyncState.SYNCED, SyncState.FAILED, SyncState.SYNCED, SyncState.SKIPPED]
    SpectoraLink.objects.bulk_create([
        SpectoraLink(workorder_id=pk, remote_id=f"r-{pk}", sync_state=states[n % 4],
                     last_synced_at=timezone.now(),
                     last_error="" if n % 2 == 0 else "Spectora answered 422: address")
        for n, pk in enumerate(ids[::3])])
    return staff_users(company, 1, "render")[0]


PARTIAL = "templates/workorders/_list_results.html"


def compare_results_template(client, url: str, revision: str, repeat: int) -> dict:
    """Render the results partial at ``revision`` and now with one context, alternating."""
    from django.http import HttpResponse
    from django.template import engines

    from workorders import views

    old_source = subprocess.run(["git", "show", f"{revision}:{PARTIAL}"], cwd=ROOT,
                                check=True, capture_output=True, text=True).stdout
    seen = {}
    real_page = views.page

    def keep_context(request, template, context):
        seen.update(context=context, request=request)
        return HttpResponse("")

    views.page = keep_context
    try:
        client.get(url)
    finally:
        views.page = real_page
    context, request = seen["context"], seen["request"]
    engine = engines["django"]
    templates = {"old": engine.from_string(old_source),
                 "new": engine.get_template("workorders/_list_results.html")}
    html = {k: t.render(context, request=request) for k, t in templates.items()}
    runs: dict[str, list[float]] = {"old": [], "new": []}
    for _ in range(repeat * 3):
        for label, template in templates.items():
            started = time.perf_counter()
            template.render(context, request=request)
            runs[label].append((time.perf_counter() - started) * 1000)
    medians = {k: statistics.median(v) for k, v in runs.items()}
    squeeze = {k: " ".join(v.split()) for k, v in html.items()}
    return {
        "revision": revision, "renders_each": repeat * 3,
        "old_median_ms": round(medians["old"], 2), "new_median_ms": round(medians["new"], 2),
        "old_over_new": round(medians["old"] / medians["new"], 2),
        "same_html_ignoring_whitespace": squeeze["old"] == squeeze["new"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--output", default="list_render")
    parser.add_argument("--compare-with", metavar="REV",
                        help="git revision whose _list_results.html to render against today's")
    args = parser.parse_args()
    setup_django()
    from django.http import HttpResponse
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from workorders import access, views

    user = build(args.rows, random.Random(7))
    client = Client()
    client.force_login(user)
    url = reverse("workorders:list")
    real_page = views.page

    def no_templates(request, template, context):
        return HttpResponse("")

    def get(variant: str) -> float:
        views.page = real_page if variant == "full" else no_templates
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200
        return elapsed

    from django.db import connection

    with CaptureQueriesContext(connection) as captured:
        get("full")
    queries_full = len(captured.captured_queries)
    body = client.get(url).content.decode()
    load_start = machine_load()
    runs: dict[str, list[float]] = {"full": [], "no_templates": []}
    for variant in runs:
        get(variant)  # warm-up
    for _ in range(args.repeat):
        for variant in runs:
            runs[variant].append(get(variant))
    views.page = real_page
    assert access.page is real_page
    medians = {k: statistics.median(v) for k, v in runs.items()}
    templates = medians["full"] - medians["no_templates"]
    result = {
        "rows": args.rows, "repeat": args.repeat,
        "full_median_ms": round(medians["full"], 2),
        "full_p95_ms": round(percentile(runs["full"], 95), 2),
        "no_templates_median_ms": round(medians["no_templates"], 2),
        "templates_median_ms": round(templates, 2),
        "templates_over_no_templates": round(templates / medians["no_templates"], 2),
        "templates_share_of_full": round(templates / medians["full"], 2),
        "queries_full_page": queries_full,
        "includes_in_list_template": (ROOT / "templates/workorders/_list_results.html")
        .read_text().count("{% include"),
        "page_bytes": len(body),
        "machine_load_at_start": load_start,
        "machine_load_at_end": machine_load(),
    }
    print(f"List page, {args.rows} workorders, 25 rows, median of {args.repeat} "
          f"(load average {load_start['loadavg_1m']}):")
    print(f"  full {result['full_median_ms']} ms, without templates "
          f"{result['no_templates_median_ms']} ms, templates {result['templates_median_ms']} ms "
          f"= {result['templates_over_no_templates']}x the rest of the request "
          f"({result['templates_share_of_full']:.0%} of it)")
    if args.compare_with:
        result["compare"] = compare_results_template(client, url, args.compare_with,
                                                     args.repeat)
        c = result["compare"]
        print(f"  results partial at {args.compare_with}: median {c['old_median_ms']} ms, now "
              f"{c['new_median_ms']} ms: old/new = {c['old_over_new']} (same context, "
              "alternating)")
    path = write_result(args.output, result)
    print(f"Written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
