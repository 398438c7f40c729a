"""Auth, the catalogue reads and paging."""

import pytest

from .conftest import error


def test_it_refuses_a_request_without_an_api_key(api):
    resp = api.http.get(f"{api.url}/v2/inspectors", headers={"Authorization": None})
    assert resp.status_code == 401
    assert error(resp)["code"] == "unauthorized"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer wrong-key", "Token sandbox-key", "sandbox-key"])
def test_it_refuses_a_wrong_api_key(api, header):
    resp = api.get("/v2/inspections", headers={"Authorization": header})
    assert resp.status_code == 401
    assert error(resp) == {
        "status": "401",
        "code": "unauthorized",
        "title": "Unauthorized",
        "detail": error(resp)["detail"],
    }


def test_it_lists_five_active_inspectors(api):
    body = api.get("/v2/inspectors").json()
    assert [r["id"] for r in body["data"]] == [f"insp-{n}" for n in range(1, 6)]
    first = body["data"][0]
    assert first["type"] == "inspectors"
    assert set(first["attributes"]) == {"name", "email", "active"}
    assert first["attributes"]["email"].endswith("@example.com")
    assert all(r["attributes"]["active"] for r in body["data"])
    assert body["meta"] == {"pagination": {"current": 1, "records": 5}}
    assert "next" not in body["links"] and "prev" not in body["links"]


def test_it_lists_eight_services_four_primary_and_four_add_ons(api):
    data = api.get("/v2/services").json()["data"]
    kinds = {r["id"]: r["attributes"]["kind"] for r in data}
    assert kinds == {
        **{f"svc-{n}": "primary" for n in range(1, 5)},
        **{f"svc-{n}": "add_on" for n in range(5, 9)},
    }
    names = {r["attributes"]["name"] for r in data}
    assert {"Full Home Inspection", "Radon Test", "Sewer Scope"} <= names
    assert all(isinstance(r["attributes"]["price_cents"], int) for r in data)


def test_it_lists_four_report_templates(api):
    data = api.get("/v2/templates").json()["data"]
    assert [r["id"] for r in data] == ["tpl-1", "tpl-2", "tpl-3", "tpl-4"]
    assert all(r["type"] == "templates" and r["attributes"]["name"] for r in data)


def test_it_filters_services_by_kind_and_inspectors_by_active(api):
    add_ons = api.get("/v2/services", params={"filter[kind]": "add_on"}).json()
    assert [r["id"] for r in add_ons["data"]] == ["svc-5", "svc-6", "svc-7", "svc-8"]
    inactive = api.get("/v2/inspectors", params={"filter[active]": "false"}).json()
    assert inactive["data"] == []


def test_it_pages_a_catalogue_with_self_next_and_prev_links(api):
    first = api.get("/v2/services", params={"page[size]": 3}).json()
    assert [r["id"] for r in first["data"]] == ["svc-1", "svc-2", "svc-3"]
    assert first["meta"]["pagination"] == {"current": 1, "records": 8}
    assert "prev" not in first["links"]
    second = api.http.get(first["links"]["next"]).json()
    assert [r["id"] for r in second["data"]] == ["svc-4", "svc-5", "svc-6"]
    assert second["meta"]["pagination"]["current"] == 2
    third = api.http.get(second["links"]["next"]).json()
    assert [r["id"] for r in third["data"]] == ["svc-7", "svc-8"]
    assert "next" not in third["links"]
    assert api.http.get(third["links"]["prev"]).json() == second
    assert api.http.get(third["links"]["self"]).json() == third


def test_it_answers_an_empty_page_past_the_end(api):
    body = api.get("/v2/templates", params={"page[number]": 9}).json()
    assert body["data"] == []
    assert body["meta"]["pagination"] == {"current": 9, "records": 4}
    assert "prev" in body["links"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("page[size]", "201"),
        ("page[size]", "0"),
        ("page[size]", "ten"),
        ("page[number]", "0"),
        ("page[number]", "1.5"),
    ],
)
def test_it_refuses_a_bad_page_parameter(api, name, value):
    resp = api.get("/v2/inspections", params={name: value})
    assert resp.status_code == 400
    assert error(resp)["code"] == "invalid_parameter"
    assert error(resp)["source"] == {"parameter": name}


def test_it_accepts_the_largest_page_size(api):
    resp = api.get("/v2/inspectors", params={"page[size]": 200})
    assert resp.status_code == 200


def test_it_refuses_an_unknown_filter(api):
    resp = api.get("/v2/inspections", params={"filter[status]": "open"})
    assert resp.status_code == 400
    assert error(resp)["code"] == "invalid_parameter"


def test_it_returns_one_catalogue_entry_by_id(api):
    resp = api.get("/v2/templates/tpl-2")
    assert resp.status_code == 200
    assert resp.json()["data"]["id"] == "tpl-2"
    missing = api.get("/v2/inspectors/insp-99")
    assert missing.status_code == 404
    assert error(missing)["code"] == "not_found"


def test_it_speaks_json_api_with_a_content_length(api):
    resp = api.get("/v2/inspectors")
    assert resp.headers["Content-Type"] == "application/vnd.api+json"
    assert int(resp.headers["Content-Length"]) == len(resp.content)
