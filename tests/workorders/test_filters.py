"""The workorder list's one FilterSet: the page and the API read the same parameters,
refuse the same values, search the same columns and sort the same way."""

import ast
import re
from datetime import datetime
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import (
    AssignmentFactory,
    EmployeeFactory,
    LineItemFactory,
    ServiceFactory,
    WorkorderFactory,
)
from workorders import filters, integrations, selectors
from workorders.models import WorkorderStatus

pytestmark = pytest.mark.django_db

LIST = reverse("workorders:list")
API = "/api/v1/workorders/"


@pytest.fixture
def api(office_user):
    client = APIClient()
    client.force_authenticate(office_user)
    return client


def local(year, month, day, hour=9):
    return timezone.make_aware(datetime(year, month, day, hour))


def page_numbers(office_client, params) -> list[int]:
    response = office_client.get(LIST, params)
    assert response.status_code == 200
    html = response.content.decode()
    return [int(n) for n in re.findall(r'class="wo-link"[^>]*>WO-(\d+)<', html)]


def api_numbers(api, params) -> list[int]:
    response = api.get(API, params)
    assert response.status_code == 200, response.content
    return [row["number"] for row in response.json()["results"]]


def field_block(html: str, name: str) -> str:
    """The filter form's block for a field with errors: its label, input and errors."""
    match = re.search(
        rf'<div class="[^"]*\bfield\b[^"]*">\s*<label for="id_{name}">.*?</div>\s*</div>',
        html,
        re.S,
    )
    assert match, f"no block for {name}"
    return match.group(0)


# -- The same parameters, the same refusals --------------------------------------------------


REFUSED = [
    ({"date_from": "2030-02-01", "date_to": "2030-01-01"}, "date_to",
     "The end date is before the start date."),
    ({"inspector": "²"}, "inspector", "Choose one of your company's inspectors."),
    ({"inspector": "99999999999999999999999"}, "inspector",
     "Choose one of your company's inspectors."),
    ({"inspector": "-1"}, "inspector", "Choose one of your company's inspectors."),
    ({"date_from": "9999-12-31"}, "date_from", "Enter a date between 1900-01-01 and 2999-12-31."),
    ({"date_to": "9999-12-31"}, "date_to", "Enter a date between 1900-01-01 and 2999-12-31."),
    ({"date_to": "0001-01-01"}, "date_to", "Enter a date between 1900-01-01 and 2999-12-31."),
    ({"date_from": "2030-13-45"}, "date_from", "Enter a date like 2025-05-14."),
    ({"status": "bogus"}, "status", "Select a valid choice."),
    ({"origin": "elsewhere"}, "origin", "Select a valid choice."),
    ({"search": "x" * 201}, "search", "Ensure this value has at most 200 characters"),
    ({"spectora_sync": "sometimes"}, "spectora_sync", "Select a valid choice."),
]


@pytest.mark.parametrize(("params", "field", "message"), REFUSED)
def test_the_api_refuses_a_bad_value_with_a_400_naming_the_field(api, company, params, field,
                                                                  message):
    response = api.get(API, params)

    assert response.status_code == 400
    assert set(response.json()) == {field}
    assert response.json()[field][0].startswith(message)


@pytest.mark.parametrize(("params", "field", "message"), REFUSED)
def test_the_page_shows_the_same_refusal_next_to_the_field_and_ignores_the_value(
    office_client, company, params, field, message
):
    WorkorderFactory(company=company, number=4242, scheduled_at=local(2030, 2, 15))

    response = office_client.get(LIST, params)

    assert response.status_code == 200
    html = response.content.decode()
    block = field_block(html, field)
    assert "field--error" in block
    assert message in block.replace("&#x27;", "'")
    assert "WO-4242" in html  # the refused value narrows nothing


def test_the_page_and_the_api_answer_the_same_filters_with_the_same_rows(
    office_client, api, company
):
    inspector = EmployeeFactory(company=company, name="Rae Quill")
    wanted = WorkorderFactory(company=company, status=WorkorderStatus.CONFIRMED,
                              client_name="Paula Shared", scheduled_at=local(2030, 5, 2))
    AssignmentFactory(workorder=wanted, employee=inspector)
    WorkorderFactory(company=company, client_name="Paula Shared", scheduled_at=local(2030, 5, 3))
    WorkorderFactory(company=company, status=WorkorderStatus.CONFIRMED,
                     client_name="Paula Shared", scheduled_at=local(2030, 6, 1))
    params = {"search": "paula", "status": "confirmed", "date_from": "2030-05-01",
              "date_to": "2030-05-31", "inspector": str(inspector.pk)}

    assert page_numbers(office_client, params) == [wanted.number]
    assert api_numbers(api, params) == [wanted.number]


def test_the_page_still_reads_q_as_the_search_and_shows_it_in_the_search_box(
    office_client, company
):
    WorkorderFactory(company=company, number=5321, client_name="Jo Hollis")
    WorkorderFactory(company=company, number=5400, client_name="Other Person")

    html = office_client.get(LIST, {"q": "hollis"}).content.decode()

    assert "WO-5321" in html and "WO-5400" not in html
    assert re.search(r'<input type="search" name="search" value="hollis"', html)


def test_the_api_reads_search_not_q(api, company):
    WorkorderFactory(company=company, client_name="Jo Hollis")
    WorkorderFactory(company=company, client_name="Other Person")

    assert len(api_numbers(api, {"search": "hollis"})) == 1
    assert len(api_numbers(api, {"q": "hollis"})) == 2


def test_an_inspector_of_another_company_is_refused(api, company, other_company):
    stranger = EmployeeFactory(company=other_company)

    response = api.get(API, {"inspector": stranger.pk})

    assert response.status_code == 400
    assert "inspector" in response.json()


@pytest.mark.parametrize("search", ["99999999999999999999999", "WO-99999999999", "²", "-1"])
def test_a_search_too_big_or_odd_for_a_number_finds_nothing_instead_of_failing(
    office_client, api, company, search
):
    WorkorderFactory(company=company, number=5001)

    assert api_numbers(api, {"search": search}) == []
    assert page_numbers(office_client, {"search": search}) == []


# -- Search ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "search", ["lena@north.example", "NORTH.EXAMPLE", "marlowe", "Radon Test", "radon"]
)
def test_search_matches_client_email_inspector_names_and_service_names(
    office_client, api, company, search
):
    wanted = WorkorderFactory(company=company, client_email="lena@north.example")
    AssignmentFactory(workorder=wanted, employee=EmployeeFactory(company=company,
                                                                 name="Sam Marlowe"))
    LineItemFactory(workorder=wanted, service=ServiceFactory(company=company,
                                                             name="Radon Test"))
    other = WorkorderFactory(company=company, client_email="someone@else.example")
    AssignmentFactory(workorder=other)
    LineItemFactory(workorder=other)

    assert api_numbers(api, {"search": search}) == [wanted.number]
    assert page_numbers(office_client, {"search": search}) == [wanted.number]


def test_a_workorder_matching_on_several_rows_is_listed_once(api, company):
    wanted = WorkorderFactory(company=company)
    for name in ("Ann Smith", "Bob Smith", "Cy Smith"):
        AssignmentFactory(workorder=wanted, employee=EmployeeFactory(company=company, name=name),
                          primary=name == "Ann Smith")
    for name in ("Smith roof", "Smith attic"):
        LineItemFactory(workorder=wanted, service=ServiceFactory(company=company, name=name))

    body = api.get(API, {"search": "smith"}).json()

    assert body["count"] == 1
    assert [row["number"] for row in body["results"]] == [wanted.number]


def test_search_and_inspector_match_rows_through_subqueries_not_joins_and_distinct(company):
    employee = EmployeeFactory(company=company)
    filterset = filters.workorder_filterset()(
        {"search": "smith", "inspector": str(employee.pk)},
        queryset=selectors.workorder_list(company),
        company=company,
    )

    sql = str(filterset.qs.query).upper()
    outer = re.sub(r"\(SELECT .*?\)", "(...)", sql)  # subqueries hold no nested parentheses

    assert "DISTINCT" not in sql
    assert '"WORKORDERS_ASSIGNMENT"' not in outer
    assert '"WORKORDERS_LINEITEM"' not in outer
    # inspector names, service names: IN (subquery), or = ANY(ARRAY(subquery)) on
    # PostgreSQL (workorders/expressions.py: lets the trigram indexes serve the OR)
    assert sql.count("IN (SELECT") + sql.count("ANY(ARRAY(SELECT") == 2
    assert sql.count("EXISTS") == 1  # the inspector filter


# -- Ordering --------------------------------------------------------------------------------


@pytest.fixture
def three(company):
    """Three workorders whose orders differ by every sortable column."""
    return {
        "a": WorkorderFactory(company=company, number=7002, client_name="bea Client",
                              status=WorkorderStatus.CANCELLED, scheduled_at=local(2030, 1, 3)),
        "b": WorkorderFactory(company=company, number=7003, client_name="Abe Client",
                              status=WorkorderStatus.CONFIRMED, scheduled_at=local(2030, 1, 1)),
        "c": WorkorderFactory(company=company, number=7001, client_name="Cal Client",
                              status=WorkorderStatus.UNCONFIRMED, scheduled_at=local(2030, 1, 2)),
    }


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("", [7002, 7001, 7003]),  # newest first, as before
        ("when", [7003, 7001, 7002]),
        ("-when", [7002, 7001, 7003]),
        ("number", [7001, 7002, 7003]),
        ("-number", [7003, 7002, 7001]),
        ("client", [7003, 7002, 7001]),  # without regard to case
        ("-client", [7001, 7002, 7003]),
        ("state", [7001, 7003, 7002]),  # unconfirmed, confirmed, cancelled
        ("-state", [7002, 7003, 7001]),
    ],
)
def test_the_page_and_the_api_sort_by_every_sortable_column(
    office_client, api, three, ordering, expected
):
    params = {"ordering": ordering} if ordering else {}

    assert page_numbers(office_client, params) == expected
    assert api_numbers(api, params) == expected


def test_equal_values_keep_newest_first_so_pages_never_overlap(api, company):
    for number, day in ((8001, 1), (8002, 3), (8003, 2)):
        WorkorderFactory(company=company, number=number, client_name="Same Name",
                         scheduled_at=local(2030, 1, day))

    assert api_numbers(api, {"ordering": "client"}) == [8002, 8003, 8001]


def sort_headers(html: str) -> dict[str, str]:
    """Column label -> its <th> tag."""
    return {
        label: th
        for th, label in re.findall(r'(<th scope="col"[^>]*>)<a class="sort[^"]*"[^>]*>(\w+)', html)
    }


def sort_links(html: str) -> dict[str, str]:
    return dict(
        (label, href.replace("&amp;", "&"))
        for href, label in re.findall(r'<a class="sort[^"]*" href="([^"]*)"[^>]*>(\w+)', html)
    )


def test_column_headers_are_links_that_toggle_the_order_with_aria_sort(office_client, three):
    html = office_client.get(LIST, {"status": "confirmed", "page": "1"}).content.decode()

    assert set(sort_headers(html)) == {"Number", "Scheduled", "Client", "Status"}
    assert 'aria-sort="descending"' in sort_headers(html)["Scheduled"]
    assert "aria-sort" not in sort_headers(html)["Client"]
    links = sort_links(html)
    assert links["Scheduled"] == "?status=confirmed&ordering=when"  # page dropped
    assert links["Client"] == "?status=confirmed&ordering=client"

    html = office_client.get(LIST, {"status": "confirmed", "ordering": "client"}).content.decode()

    assert 'aria-sort="ascending"' in sort_headers(html)["Client"]
    assert "aria-sort" not in sort_headers(html)["Scheduled"]
    assert sort_links(html)["Client"] == "?status=confirmed&ordering=-client"

    html = office_client.get(LIST, {"ordering": "-client"}).content.decode()

    assert 'aria-sort="descending"' in sort_headers(html)["Client"]
    assert sort_links(html)["Client"] == "?ordering=client"


def test_the_filter_form_keeps_the_chosen_order_through_htmx_swaps(office_client, three):
    response = office_client.get(
        LIST, {"ordering": "-number"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="wo-results"
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<section id="wo-results"')
    # Inside the swapped part, tied to the form outside it: the next filter keeps the order.
    assert '<input type="hidden" name="ordering" value="-number" form="wo-filters">' in html
    assert re.search(r'hx-get="\?ordering=number"', html)
    full = office_client.get(LIST, {"ordering": "-number"}).content.decode()
    assert '<form id="wo-filters"' in full


def test_an_unknown_ordering_is_refused_by_the_api_and_ignored_by_the_page(
    office_client, api, three
):
    response = api.get(API, {"ordering": "address"})
    assert response.status_code == 400
    assert "ordering" in response.json()

    html = office_client.get(LIST, {"ordering": "address"}).content.decode()
    assert "Sort: Select a valid choice." in html
    assert page_numbers(office_client, {"ordering": "address"}) == [7002, 7001, 7003]


# -- Cost ------------------------------------------------------------------------------------


def _fill(company, count):
    employees = EmployeeFactory.create_batch(3, company=company)
    services = ServiceFactory.create_batch(3, company=company)
    for index in range(count):
        workorder = WorkorderFactory(company=company, client_name=f"Filler {index}")
        AssignmentFactory(workorder=workorder, employee=employees[index % 3], primary=True)
        AssignmentFactory(workorder=workorder, employee=employees[(index + 1) % 3],
                          primary=False)
        LineItemFactory(workorder=workorder, service=services[index % 3])
    return employees


@pytest.mark.parametrize("count", [10, 60])
def test_a_filtered_sorted_page_costs_no_more_queries_than_the_plain_list(
    office_client, company, count, django_assert_max_num_queries
):
    employees = _fill(company, count)
    params = {"search": "filler", "status": "unconfirmed", "inspector": employees[0].pk,
              "date_from": "2000-01-01", "spectora_sync": "never", "ordering": "-client"}

    with django_assert_max_num_queries(9):
        response = office_client.get(LIST, params)

    assert response.status_code == 200
    assert response.content.decode().count('class="wo-link"') == min(-(-count * 2 // 3), 25)


def test_the_api_loads_the_employees_only_when_the_inspector_filter_is_used(api, company):
    employee = EmployeeFactory(company=company)
    WorkorderFactory(company=company)

    def employee_queries(params):
        with CaptureQueriesContext(connection) as captured:
            assert api.get(API, params).status_code == 200
        return [q for q in captured.captured_queries
                if 'FROM "workorders_employee"' in q["sql"]]

    assert employee_queries({"status": "unconfirmed"}) == []
    assert len(employee_queries({"inspector": employee.pk})) == 1


# -- The integrations' filters ---------------------------------------------------------------


class FlaggedIntegration(integrations.Integration):
    """A stand-in integration offering one filter: workorders whose notes say FLAG."""

    key = "flagged-test"

    def list_filters(self):
        import django_filters

        return {
            "flagged": django_filters.ChoiceFilter(
                label="Flagged",
                choices=[("yes", "Flagged")],
                method=lambda qs, name, value: qs.filter(notes__contains="FLAG"),
            )
        }


@pytest.fixture
def only(monkeypatch):
    """Replace the registry for one test: ``only(*integrations)``."""

    def use(*joined):
        monkeypatch.setattr(integrations, "_registry", {i.key: i for i in joined})

    return use


def test_an_integrations_filter_joins_the_page_and_the_api(office_client, api, company, only):
    only(FlaggedIntegration())
    flagged = WorkorderFactory(company=company, notes="FLAG: gate code")
    WorkorderFactory(company=company, notes="")

    html = office_client.get(LIST).content.decode()
    assert '<select name="flagged" id="id_flagged">' in html
    assert 'name="spectora_sync"' not in html
    assert page_numbers(office_client, {"flagged": "yes"}) == [flagged.number]
    assert api_numbers(api, {"flagged": "yes"}) == [flagged.number]
    assert api.get(API, {"flagged": "no"}).status_code == 400


def test_without_an_integration_offering_it_the_page_shows_no_sync_select(
    office_client, company, only
):
    only()

    html = office_client.get(LIST).content.decode()

    assert "<select name=\"status\"" in html
    assert "spectora_sync" not in html
    assert "Spectora sync" not in html


def test_an_integration_cannot_take_the_name_of_an_office_filter(only):
    class Clashing(FlaggedIntegration):
        key = "clashing-test"

        def list_filters(self):
            return {"status": super().list_filters()["flagged"]}

    only(Clashing())

    with pytest.raises(Exception, match="status"):
        filters.workorder_filterset()


def test_workorders_imports_no_integration():
    """The list filter by sync state is a hook: no module of the office names Spectora's app.

    (The demo seeding command, ``manage.py seed_demo``, connects the demo company to the
    sandbox and is not part of the running office; it is left out.)
    """
    root = Path(filters.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if "management" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("spectora")]
    assert offenders == []
