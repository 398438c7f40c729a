"""Assignments, line items and reports under an inspection."""

import pytest

from .conftest import doc, error


@pytest.fixture
def iid(api) -> str:
    return api.create_inspection()["id"]


def _primaries(api, iid) -> dict[str, bool]:
    (insp,) = api.state()
    assert insp["id"] == iid
    return {a["inspector_id"]: a["primary"] for a in insp["assignments"]}


# --------------------------------------------------------------------------- assignments


def test_it_assigns_an_inspector(api, iid):
    resp = api.add(iid, "assignments", inspector_id="insp-1", primary=True)
    assert resp.status_code == 201
    data = resp.json()["data"]
    assert data["type"] == "assignments"
    assert data["id"].isdigit()
    assert data["attributes"] == {"inspector_id": "insp-1", "primary": True}
    assert data["relationships"]["inspection"]["data"] == {"type": "inspections", "id": iid}


def test_it_defaults_an_assignment_to_not_primary(api, iid):
    resp = api.add(iid, "assignments", inspector_id="insp-4")
    assert resp.json()["data"]["attributes"]["primary"] is False


def test_it_keeps_at_most_one_primary_inspector(api, iid):
    api.add(iid, "assignments", inspector_id="insp-1", primary=True)
    api.add(iid, "assignments", inspector_id="insp-2", primary=True)
    assert _primaries(api, iid) == {"insp-1": False, "insp-2": True}


def test_it_changes_which_inspector_is_primary(api, iid):
    first = api.add(iid, "assignments", inspector_id="insp-1", primary=True).json()["data"]
    second = api.add(iid, "assignments", inspector_id="insp-2").json()["data"]
    resp = api.patch(
        f"/v2/inspections/{iid}/assignments/{second['id']}", json=doc("assignments", primary=True)
    )
    assert resp.status_code == 200
    assert resp.json()["data"]["attributes"] == {"inspector_id": "insp-2", "primary": True}
    assert _primaries(api, iid) == {"insp-1": False, "insp-2": True}
    api.patch(
        f"/v2/inspections/{iid}/assignments/{first['id']}", json=doc("assignments", primary=False)
    )
    assert _primaries(api, iid) == {"insp-1": False, "insp-2": True}


def test_it_removes_an_assignment(api, iid):
    aid = api.add(iid, "assignments", inspector_id="insp-1").json()["data"]["id"]
    resp = api.delete(f"/v2/inspections/{iid}/assignments/{aid}")
    assert resp.status_code == 204
    assert resp.content == b""
    assert _primaries(api, iid) == {}
    again = api.delete(f"/v2/inspections/{iid}/assignments/{aid}")
    assert again.status_code == 404


def test_it_refuses_an_unknown_inspector(api, iid):
    resp = api.add(iid, "assignments", inspector_id="insp-42")
    assert resp.status_code == 422
    assert error(resp)["code"] == "inspector_not_found"
    assert error(resp)["source"] == {"pointer": "/data/attributes/inspector_id"}


def test_it_refuses_the_same_inspector_twice(api, iid):
    api.add(iid, "assignments", inspector_id="insp-1")
    resp = api.add(iid, "assignments", inspector_id="insp-1", primary=True)
    assert resp.status_code == 422
    assert error(resp)["code"] == "already_assigned"
    assert len(api.state()[0]["assignments"]) == 1


@pytest.mark.parametrize(
    "attrs",
    [{}, {"inspector_id": "insp-1", "primary": "yes"}, {"inspector_id": "insp-1", "role": "x"}],
)
def test_it_refuses_an_invalid_assignment(api, iid, attrs):
    resp = api.add(iid, "assignments", **attrs)
    assert resp.status_code == 422
    assert error(resp)["code"] == "validation_failed"


def test_it_refuses_to_move_an_assignment_to_another_inspector(api, iid):
    aid = api.add(iid, "assignments", inspector_id="insp-1").json()["data"]["id"]
    resp = api.patch(
        f"/v2/inspections/{iid}/assignments/{aid}", json=doc("assignments", inspector_id="insp-2")
    )
    assert resp.status_code == 422


def test_it_answers_404_for_a_child_of_another_inspection(api, iid):
    other = api.create_inspection()["id"]
    aid = api.add(other, "assignments", inspector_id="insp-1").json()["data"]["id"]
    resp = api.patch(
        f"/v2/inspections/{iid}/assignments/{aid}", json=doc("assignments", primary=True)
    )
    assert resp.status_code == 404
    assert error(resp)["code"] == "not_found"


# --------------------------------------------------------------------------- line items


def test_it_adds_a_line_item_priced_from_the_service(api, iid):
    resp = api.add(iid, "line_items", service_id="svc-5")
    assert resp.status_code == 201
    assert resp.json()["data"]["attributes"] == {
        "service_id": "svc-5",
        "name": "Radon Test",
        "price_cents": 15000,
        "quantity": 1,
    }


def test_it_adds_a_line_item_with_its_own_name_price_and_quantity(api, iid):
    resp = api.add(
        iid,
        "line_items",
        service_id="svc-1",
        name="Full Home (2,400 sq ft)",
        price_cents=0,
        quantity=2,
    )
    assert resp.json()["data"]["attributes"] == {
        "service_id": "svc-1",
        "name": "Full Home (2,400 sq ft)",
        "price_cents": 0,
        "quantity": 2,
    }


def test_it_allows_the_same_service_twice(api, iid):
    assert api.add(iid, "line_items", service_id="svc-6").status_code == 201
    assert api.add(iid, "line_items", service_id="svc-6").status_code == 201
    assert [li["service_id"] for li in api.state()[0]["line_items"]] == ["svc-6", "svc-6"]


def test_it_refuses_an_unknown_service(api, iid):
    resp = api.add(iid, "line_items", service_id="svc-99")
    assert resp.status_code == 422
    assert error(resp)["code"] == "service_not_found"


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"service_id": "svc-1", "price_cents": -1},
        {"service_id": "svc-1", "price_cents": 10.5},
        {"service_id": "svc-1", "quantity": 0},
        {"service_id": "svc-1", "name": ""},
    ],
)
def test_it_refuses_an_invalid_line_item(api, iid, attrs):
    resp = api.add(iid, "line_items", **attrs)
    assert resp.status_code == 422
    assert error(resp)["code"] == "validation_failed"


def test_it_changes_a_line_item(api, iid):
    lid = api.add(iid, "line_items", service_id="svc-7").json()["data"]["id"]
    resp = api.patch(
        f"/v2/inspections/{iid}/line_items/{lid}",
        json=doc("line_items", name="Sewer Scope (150 ft)", price_cents=20000, quantity=1),
    )
    assert resp.status_code == 200
    assert api.state()[0]["line_items"] == [
        {
            "id": lid,
            "service_id": "svc-7",
            "name": "Sewer Scope (150 ft)",
            "price_cents": 20000,
            "quantity": 1,
        }
    ]
    moved = api.patch(
        f"/v2/inspections/{iid}/line_items/{lid}", json=doc("line_items", service_id="svc-1")
    )
    assert moved.status_code == 422
    bad = api.patch(f"/v2/inspections/{iid}/line_items/{lid}", json=doc("line_items", quantity=0))
    assert bad.status_code == 422


def test_it_removes_a_line_item(api, iid):
    lid = api.add(iid, "line_items", service_id="svc-7").json()["data"]["id"]
    assert api.delete(f"/v2/inspections/{iid}/line_items/{lid}").status_code == 204
    assert api.state()[0]["line_items"] == []
    assert api.delete(f"/v2/inspections/{iid}/line_items/{lid}").status_code == 404


# --------------------------------------------------------------------------- reports


def test_it_attaches_an_empty_report(api, iid):
    resp = api.add(iid, "reports", template_id="tpl-2")
    assert resp.status_code == 201
    assert resp.json()["data"]["attributes"] == {"template_id": "tpl-2", "status": "empty"}


def test_it_refuses_an_unknown_template(api, iid):
    resp = api.add(iid, "reports", template_id="tpl-9")
    assert resp.status_code == 422
    assert error(resp)["code"] == "template_not_found"


def test_it_refuses_the_same_template_twice(api, iid):
    api.add(iid, "reports", template_id="tpl-1")
    resp = api.add(iid, "reports", template_id="tpl-1")
    assert resp.status_code == 422
    assert error(resp)["code"] == "already_attached"


def test_it_removes_an_empty_report(api, iid):
    rid = api.add(iid, "reports", template_id="tpl-1").json()["data"]["id"]
    assert api.delete(f"/v2/inspections/{iid}/reports/{rid}").status_code == 204
    assert api.state()[0]["reports"] == []


@pytest.mark.parametrize("status", ["started", "published"])
def test_it_refuses_to_remove_a_report_with_content(api, iid, status):
    rid = api.add(iid, "reports", template_id="tpl-1").json()["data"]["id"]
    written = api.control("POST", f"reports/{rid}", {"status": status})
    assert written.status_code == 200
    assert written.json()["status"] == status
    resp = api.delete(f"/v2/inspections/{iid}/reports/{rid}")
    assert resp.status_code == 422
    assert error(resp)["code"] == "report_has_content"
    assert api.state()[0]["reports"] == [{"id": rid, "template_id": "tpl-1", "status": status}]
    api.control("POST", f"reports/{rid}", {"status": "empty"})
    assert api.delete(f"/v2/inspections/{iid}/reports/{rid}").status_code == 204


def test_it_refuses_a_bad_report_status_or_unknown_report(api, iid):
    rid = api.add(iid, "reports", template_id="tpl-1").json()["data"]["id"]
    assert api.control("POST", f"reports/{rid}", {"status": "done"}).status_code == 422
    assert api.control("POST", "reports/123", {"status": "started"}).status_code == 404


def test_it_does_not_allow_reports_to_be_patched(api, iid):
    rid = api.add(iid, "reports", template_id="tpl-1").json()["data"]["id"]
    resp = api.patch(f"/v2/inspections/{iid}/reports/{rid}", json=doc("reports", status="x"))
    assert resp.status_code == 405
    assert resp.headers["Allow"] == "DELETE"
    assert error(resp)["code"] == "method_not_allowed"


# --------------------------------------------------------------------------- updated_at


def test_every_child_change_bumps_the_inspections_updated_at(api, iid):
    stamps = [api.updated_at(iid)]

    def step(resp):
        assert resp.status_code in (200, 201, 204), resp.text
        stamps.append(api.updated_at(iid))

    aid = api.add(iid, "assignments", inspector_id="insp-1").json()["data"]["id"]
    stamps.append(api.updated_at(iid))
    step(
        api.patch(f"/v2/inspections/{iid}/assignments/{aid}", json=doc("assignments", primary=True))
    )
    step(api.delete(f"/v2/inspections/{iid}/assignments/{aid}"))
    lid = api.add(iid, "line_items", service_id="svc-1").json()["data"]["id"]
    stamps.append(api.updated_at(iid))
    step(api.patch(f"/v2/inspections/{iid}/line_items/{lid}", json=doc("line_items", quantity=3)))
    step(api.delete(f"/v2/inspections/{iid}/line_items/{lid}"))
    rid = api.add(iid, "reports", template_id="tpl-3").json()["data"]["id"]
    stamps.append(api.updated_at(iid))
    step(api.control("POST", f"reports/{rid}", {"status": "started"}))
    step(api.control("POST", f"reports/{rid}", {"status": "empty"}))
    step(api.delete(f"/v2/inspections/{iid}/reports/{rid}"))
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)
