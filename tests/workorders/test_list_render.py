"""The list's results template: inlined chips equal the partials, links, the capped count."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from spectora_integration.models import SpectoraLink, SyncState
from tests.factories import WorkorderFactory
from workorders import pagination, selectors
from workorders.models import Origin, Workorder, WorkorderStatus

CHIPS = ("workorders/_status_chip.html", "workorders/_origin_chip.html",
         "workorders/_sync_chip.html")


def squeeze(html: str) -> str:
    """HTML with whitespace runs collapsed and none left between tags."""
    return re.sub(r">\s+<", "><", " ".join(html.split())).strip()


def rows_of(html: str) -> list[str]:
    body = html[html.index("<tbody>"):html.index("</tbody>")]
    return re.findall(r"<tr>.*?</tr>", squeeze(body))


@pytest.fixture
def assorted(company):
    """Workorders in every chip state the list can show."""
    now = timezone.now()
    made = [
        WorkorderFactory(company=company, status=WorkorderStatus.UNCONFIRMED),
        WorkorderFactory(company=company, status=WorkorderStatus.CANCELLED,
                         cancel_reason="Client rescheduled"),
        WorkorderFactory(company=company, origin=Origin.SPECTORA),
    ]
    errors = {SyncState.FAILED: "Spectora answered 422: the address <is> & \"odd\"",
              SyncState.SKIPPED: "The company is not connected"}
    for n, state in enumerate(SyncState.values):
        wo = WorkorderFactory(company=company)
        SpectoraLink.objects.create(
            workorder=wo, remote_id=f"r-{n}", sync_state=state,
            last_synced_at=now if state in (SyncState.SYNCED, SyncState.FAILED) else None,
            last_error=errors.get(state, ""))
        made.append(wo)
    return made


def test_each_row_shows_exactly_what_the_chip_partials_render(office_client, assorted):
    html = office_client.get(reverse("workorders:list")).content.decode()
    rows = rows_of(html)
    assert len(rows) == len(assorted)
    by_pk = {wo.pk: wo for wo in selectors.workorder_list(assorted[0].company)}
    for wo in assorted:
        fresh = by_pk[wo.pk]
        row = next(r for r in rows if f'data-workorder="{wo.pk}"' in r)
        for chip in CHIPS:
            expected = squeeze(render_to_string(chip, {"workorder": fresh}))
            assert expected in row, (chip, wo.pk, expected, row)


def test_the_chips_in_the_htmx_results_match_too(office_client, assorted):
    html = office_client.get(reverse("workorders:list"), headers={
        "HX-Request": "true", "HX-Target": "wo-results"}).content.decode()
    assert "<html" not in html
    wo = assorted[-1]
    fresh = Workorder.objects.select_related("spectora_link").get(pk=wo.pk)
    assert squeeze(render_to_string("workorders/_sync_chip.html", {"workorder": fresh})) in (
        squeeze(html))


def test_each_row_links_to_its_workorder(office_client, assorted):
    html = office_client.get(reverse("workorders:list")).content.decode()
    links = re.findall(r'<a class="wo-link" href="([^"]+)">', html)
    expected = {reverse("workorders:detail", args=[wo.pk]) for wo in assorted}
    assert set(links) == expected and len(links) == len(assorted)


def test_urls_by_pk_equals_reverse_under_a_script_prefix():
    from django.urls import set_script_prefix

    set_script_prefix("/office/")
    try:
        urls = pagination.urls_by_pk("workorders:detail", [1, 42, 987654321])
        assert urls == {pk: reverse("workorders:detail", args=[pk]) for pk in urls}
        assert urls[42] == "/office/workorders/42/"
    finally:
        set_script_prefix("/")


def test_the_count_stops_at_the_cap_with_a_limited_subquery(company):
    for _ in range(7):
        WorkorderFactory(company=company)
    qs = selectors.workorder_list(company)
    with CaptureQueriesContext(connection) as captured:
        paginator = pagination.CappedPaginator(qs, 2, cap=5)
        assert (paginator.count, paginator.capped, paginator.num_pages) == (5, True, 3)
    assert len(captured.captured_queries) == 1
    sql = captured.captured_queries[0]["sql"]
    assert re.search(r"LIMIT 6\b", sql) and "ORDER BY" not in sql
    exact = pagination.CappedPaginator(qs, 2, cap=7)
    assert (exact.count, exact.capped) == (7, False)


def test_the_list_says_plus_when_the_count_is_capped(office_client, company, monkeypatch):
    for _ in range(30):
        WorkorderFactory(company=company)
    monkeypatch.setattr(pagination, "COUNT_CAP", 26)
    html = office_client.get(reverse("workorders:list")).content.decode()
    assert "Showing 1–25 of 26+ workorders" in html
    assert "Page 1 of 2+" in html
    monkeypatch.setattr(pagination, "COUNT_CAP", 10_000)
    html = office_client.get(reverse("workorders:list")).content.decode()
    assert "Showing 1–25 of 30 workorders" in html and "+ workorders" not in html
