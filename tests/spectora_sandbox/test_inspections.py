"""Inspection reads and writes: create, read, list, patch, cancel."""

import re
import time

import pytest

from .conftest import DATETIME, doc, error

UPDATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_it_creates_an_inspection_with_defaults(api):
    resp = api.post(
        "/v2/inspections",
        json=doc(
            "inspections",
            external_ref="WO-1",
            datetime=DATETIME,
            full_address="12 Elm Street",
            client_name="Pat Doe",
            client_email="pat@example.com",
        ),
    )
    assert resp.status_code == 201
    data = resp.json()["data"]
    assert data["type"] == "inspections"
    assert data["id"] == "1001"
    attrs = data["attributes"]
    assert attrs["external_ref"] == "WO-1"
    assert attrs["datetime"] == DATETIME
    assert attrs["duration"] == 120
    assert attrs["origin"] == "api"
    assert attrs["canceled_at"] is None and attrs["cancel_reason"] is None
    assert attrs["notes"] is None
    assert UPDATED_AT.match(attrs["updated_at"])
    assert attrs["url"] == f"{api.url}/inspections/1001"
    assert resp.headers["Location"] == f"{api.url}/v2/inspections/1001"
    assert data["relationships"] == {
        "assignments": {"data": []},
        "line_items": {"data": []},
        "reports": {"data": []},
    }


def test_it_numbers_inspections_from_1001(api):
    ids = [api.create_inspection()["id"] for _ in range(3)]
    assert ids == ["1001", "1002", "1003"]


def test_it_requires_a_datetime_and_an_address(api):
    resp = api.post("/v2/inspections", json=doc("inspections", notes="x"))
    assert resp.status_code == 422
    errors = resp.json()["errors"]
    assert {e["code"] for e in errors} == {"validation_failed"}
    assert {e["source"]["pointer"] for e in errors} == {
        "/data/attributes/datetime",
        "/data/attributes/full_address",
    }
    assert all(e["status"] == "422" and e["detail"] for e in errors)
    assert api.state() == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("datetime", "2025-12-01T09:00:00"),  # no offset
        ("datetime", "next tuesday"),
        ("datetime", 1733061600),
        ("duration", 0),
        ("duration", "90"),
        ("duration", True),
        ("full_address", "   "),
        ("client_email", "not-an-email"),
        ("external_ref", ""),
        ("notes", 42),
    ],
)
def test_it_refuses_an_invalid_attribute(api, field, value):
    attrs = {"datetime": DATETIME, "full_address": "1 Main St", field: value}
    resp = api.post("/v2/inspections", json=doc("inspections", **attrs))
    assert resp.status_code == 422
    assert error(resp)["code"] == "validation_failed"
    assert error(resp)["source"] == {"pointer": f"/data/attributes/{field}"}


@pytest.mark.parametrize("field", ["origin", "updated_at", "url", "canceled_at", "color"])
def test_it_refuses_read_only_or_unknown_attributes_on_create(api, field):
    attrs = {"datetime": DATETIME, "full_address": "1 Main St", field: "x"}
    resp = api.post("/v2/inspections", json=doc("inspections", **attrs))
    assert resp.status_code == 422
    assert error(resp)["source"]["pointer"] == f"/data/attributes/{field}"


def test_it_refuses_the_wrong_resource_type(api):
    body = doc("assignments", datetime=DATETIME, full_address="1 Main St")
    resp = api.post("/v2/inspections", json=body)
    assert resp.status_code == 422
    assert error(resp)["source"] == {"pointer": "/data/type"}


def test_it_refuses_malformed_json(api):
    resp = api.post(
        "/v2/inspections", data=b'{"data": {', headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400
    assert error(resp)["code"] == "invalid_json"


@pytest.mark.parametrize("body", [[], {"type": "inspections"}, {"data": "x"}])
def test_it_refuses_a_body_without_a_data_object(api, body):
    resp = api.post("/v2/inspections", json=body)
    assert resp.status_code == 400
    assert error(resp)["code"] == "invalid_body"


def test_it_refuses_a_second_create_with_the_same_external_ref(api):
    first = api.create_inspection(external_ref="WO-77")
    resp = api.post(
        "/v2/inspections",
        json=doc("inspections", external_ref="WO-77", datetime=DATETIME, full_address="x"),
    )
    assert resp.status_code == 409
    err = error(resp)
    assert err["code"] == "external_ref_taken"
    assert first["id"] in err["detail"]
    assert err["meta"] == {"existing_id": first["id"]}
    assert len(api.state()) == 1


def test_it_reads_an_inspection_with_its_children_included(api):
    iid = api.create_inspection()["id"]
    aid = api.add(iid, "assignments", inspector_id="insp-2", primary=True).json()["data"]["id"]
    lid = api.add(iid, "line_items", service_id="svc-1").json()["data"]["id"]
    rid = api.add(iid, "reports", template_id="tpl-1").json()["data"]["id"]

    body = api.get(f"/v2/inspections/{iid}?include=assignments,line_items,reports").json()
    assert body["data"]["relationships"] == {
        "assignments": {"data": [{"type": "assignments", "id": aid}]},
        "line_items": {"data": [{"type": "line_items", "id": lid}]},
        "reports": {"data": [{"type": "reports", "id": rid}]},
    }
    included = {(r["type"], r["id"]): r["attributes"] for r in body["included"]}
    assert included == {
        ("assignments", aid): {"inspector_id": "insp-2", "primary": True},
        ("line_items", lid): {
            "service_id": "svc-1",
            "name": "Full Home Inspection",
            "price_cents": 45000,
            "quantity": 1,
        },
        ("reports", rid): {"template_id": "tpl-1", "status": "empty"},
    }


def test_it_includes_only_what_was_asked_for(api):
    iid = api.create_inspection()["id"]
    api.add(iid, "assignments", inspector_id="insp-1")
    api.add(iid, "reports", template_id="tpl-1")
    plain = api.get(f"/v2/inspections/{iid}").json()
    assert "included" not in plain
    only = api.get(f"/v2/inspections/{iid}", params={"include": "reports"}).json()
    assert [r["type"] for r in only["included"]] == ["reports"]


def test_it_refuses_an_unknown_include(api):
    iid = api.create_inspection()["id"]
    resp = api.get(f"/v2/inspections/{iid}", params={"include": "invoices"})
    assert resp.status_code == 400
    assert error(resp)["code"] == "invalid_parameter"


def test_it_answers_404_for_an_unknown_inspection(api):
    resp = api.get("/v2/inspections/999999")
    assert resp.status_code == 404
    assert error(resp)["code"] == "not_found"
    for method, path in [
        ("PATCH", "/v2/inspections/999999"),
        ("POST", "/v2/inspections/999999/cancel"),
        ("POST", "/v2/inspections/999999/assignments"),
        ("DELETE", "/v2/inspections/999999/line_items/1"),
    ]:
        assert api.request(method, path, json={}).status_code == 404, (method, path)


def test_it_finds_an_inspection_by_external_ref(api):
    api.create_inspection(external_ref="WO-1")
    target = api.create_inspection(external_ref="WO-2")
    found = api.get("/v2/inspections", params={"filter[external_ref]": "WO-2"}).json()
    assert [r["id"] for r in found["data"]] == [target["id"]]
    assert found["meta"]["pagination"]["records"] == 1
    none = api.get("/v2/inspections", params={"filter[external_ref]": "WO-3"}).json()
    assert none["data"] == []


def test_it_lists_inspections_changed_since_a_time_sorted_by_updated_at(api):
    a = api.create_inspection()["id"]
    b = api.create_inspection()["id"]
    c = api.create_inspection()["id"]
    since = api.updated_at(b)
    api.patch(
        f"/v2/inspections/{a}",
        json={"data": {"type": "inspections", "id": a, "attributes": {"notes": "gate code 1234"}}},
    )
    body = api.get(
        "/v2/inspections", params={"filter[updated_since]": since, "sort": "updated_at"}
    ).json()
    assert [r["id"] for r in body["data"]] == [b, c, a]
    stamps = [r["attributes"]["updated_at"] for r in body["data"]]
    assert stamps == sorted(stamps)
    newest_first = api.get(
        "/v2/inspections", params={"filter[updated_since]": since, "sort": "-updated_at"}
    ).json()
    assert [r["id"] for r in newest_first["data"]] == [a, c, b]


def test_it_accepts_updated_since_with_an_offset_or_an_unencoded_plus(api):
    api.create_inspection()
    with_offset = api.get(
        "/v2/inspections", params={"filter[updated_since]": "2000-01-01T00:00:00+00:00"}
    )
    assert len(with_offset.json()["data"]) == 1
    raw_plus = api.get("/v2/inspections?filter[updated_since]=2000-01-01T00:00:00+00:00")
    assert len(raw_plus.json()["data"]) == 1
    future = api.get("/v2/inspections", params={"filter[updated_since]": "2999-01-01T00:00:00Z"})
    assert future.json()["data"] == []


@pytest.mark.parametrize(
    ("name", "value"), [("filter[updated_since]", "yesterday"), ("sort", "datetime")]
)
def test_it_refuses_a_bad_updated_since_or_sort(api, name, value):
    resp = api.get("/v2/inspections", params={name: value})
    assert resp.status_code == 400
    assert error(resp)["code"] == "invalid_parameter"


def test_it_pages_the_inspection_list(api):
    for _ in range(5):
        api.create_inspection()
    page = api.get("/v2/inspections", params={"page[size]": 2, "sort": "updated_at"}).json()
    seen = []
    while True:
        seen += [r["id"] for r in page["data"]]
        if "next" not in page["links"]:
            break
        assert "sort=updated_at" in page["links"]["next"]
        page = api.http.get(page["links"]["next"]).json()
    assert seen == ["1001", "1002", "1003", "1004", "1005"]
    assert page["meta"]["pagination"] == {"current": 3, "records": 5}


def test_it_keeps_updated_at_strictly_increasing_across_the_store(api):
    iid = api.create_inspection()["id"]
    for n in range(20):
        api.create_inspection()
        api.patch(
            f"/v2/inspections/{iid}",
            json={"data": {"type": "inspections", "attributes": {"notes": str(n)}}},
        )
    stamps = [i["updated_at"] for i in api.state()]
    assert len(set(stamps)) == len(stamps)
    sandbox = api.sandbox
    with sandbox.state.lock:
        ticks = [sandbox.state.store.next_us() for _ in range(1000)]
    assert all(b > a for a, b in zip(ticks, ticks[1:], strict=False))


def test_it_patches_scalar_attributes_and_bumps_updated_at(api):
    created = api.create_inspection(external_ref="WO-1")
    iid = created["id"]
    time.sleep(0.001)
    resp = api.patch(
        f"/v2/inspections/{iid}",
        json={
            "data": {
                "type": "inspections",
                "id": iid,
                "attributes": {
                    "datetime": "2025-12-02T13:30:00-05:00",
                    "duration": 180,
                    "full_address": "14 Oak Avenue",
                    "client_name": "Sam Roe",
                    "client_email": "sam@example.com",
                    "notes": None,
                    "external_ref": "WO-1b",
                },
            }
        },
    )
    assert resp.status_code == 200
    attrs = resp.json()["data"]["attributes"]
    assert attrs["duration"] == 180
    assert attrs["full_address"] == "14 Oak Avenue"
    assert attrs["external_ref"] == "WO-1b"
    assert attrs["updated_at"] > created["attributes"]["updated_at"]
    found = api.get("/v2/inspections", params={"filter[external_ref]": "WO-1"}).json()
    assert found["data"] == []


def test_it_does_not_bump_updated_at_when_a_patch_changes_nothing(api):
    created = api.create_inspection(notes="same")
    iid = created["id"]
    resp = api.patch(f"/v2/inspections/{iid}", json=doc("inspections", notes="same", duration=120))
    assert resp.json()["data"]["attributes"]["updated_at"] == created["attributes"]["updated_at"]


@pytest.mark.parametrize("field", ["origin", "url", "updated_at", "canceled_at", "bogus"])
def test_it_refuses_to_patch_read_only_or_unknown_attributes(api, field):
    iid = api.create_inspection()["id"]
    resp = api.patch(f"/v2/inspections/{iid}", json=doc("inspections", **{field: "x"}))
    assert resp.status_code == 422
    assert error(resp)["source"]["pointer"] == f"/data/attributes/{field}"


def test_it_refuses_a_patch_whose_id_does_not_match_the_url(api):
    iid = api.create_inspection()["id"]
    body = {"data": {"type": "inspections", "id": "4242", "attributes": {"notes": "x"}}}
    resp = api.patch(f"/v2/inspections/{iid}", json=body)
    assert resp.status_code == 422
    assert error(resp)["source"] == {"pointer": "/data/id"}


def test_it_refuses_to_patch_an_external_ref_already_in_use(api):
    first = api.create_inspection(external_ref="WO-1")
    second = api.create_inspection(external_ref="WO-2")
    resp = api.patch(
        f"/v2/inspections/{second['id']}", json=doc("inspections", external_ref="WO-1")
    )
    assert resp.status_code == 409
    assert error(resp)["meta"] == {"existing_id": first["id"]}


def test_it_cancels_an_inspection_once(api):
    iid = api.create_inspection()["id"]
    first = api.post(f"/v2/inspections/{iid}/cancel", json={"reason": "Buyer backed out"})
    assert first.status_code == 200
    attrs = first.json()["data"]["attributes"]
    assert UPDATED_AT.match(attrs["canceled_at"])
    assert attrs["cancel_reason"] == "Buyer backed out"
    again = api.post(f"/v2/inspections/{iid}/cancel", json={"reason": "Something else"})
    assert again.status_code == 200
    assert again.json()["data"]["attributes"] == attrs


def test_it_cancels_without_a_reason(api):
    iid = api.create_inspection()["id"]
    resp = api.post(f"/v2/inspections/{iid}/cancel")
    assert resp.status_code == 200
    assert resp.json()["data"]["attributes"]["cancel_reason"] is None
    bad = api.post(f"/v2/inspections/{api.create_inspection()['id']}/cancel", json={"reason": 7})
    assert bad.status_code == 422


def test_it_refuses_writes_to_a_canceled_inspection(api):
    iid = api.create_inspection()["id"]
    aid = api.add(iid, "assignments", inspector_id="insp-1").json()["data"]["id"]
    api.post(f"/v2/inspections/{iid}/cancel", json={"reason": "x"})
    attempts = [
        api.patch(f"/v2/inspections/{iid}", json=doc("inspections", notes="x")),
        api.add(iid, "assignments", inspector_id="insp-2"),
        api.patch(
            f"/v2/inspections/{iid}/assignments/{aid}", json=doc("assignments", primary=True)
        ),
        api.delete(f"/v2/inspections/{iid}/assignments/{aid}"),
        api.add(iid, "line_items", service_id="svc-1"),
        api.add(iid, "reports", template_id="tpl-1"),
    ]
    for resp in attempts:
        assert resp.status_code == 422, resp.request.method + " " + resp.request.url
        assert error(resp)["code"] == "inspection_canceled"
    assert api.get(f"/v2/inspections/{iid}").status_code == 200


def test_it_serves_the_office_page_an_inspection_url_points_at(api):
    created = api.create_inspection(client_name="Pat <Doe>")
    api.add(created["id"], "assignments", inspector_id="insp-3", primary=True)
    page = api.http.get(created["attributes"]["url"], timeout=5)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Priya Shah (primary)" in page.text
    assert "Pat &lt;Doe&gt;" in page.text
    assert api.http.get(f"{api.url}/inspections/5", timeout=5).status_code == 404
    index = api.http.get(f"{api.url}/", timeout=5)
    assert f"/inspections/{created['id']}" in index.text
