"""Control endpoints, routing and the HTTP layer."""

import json
import time

import pytest

from spectora_sandbox.server import is_loopback
from spectora_sandbox.state import SandboxState

from .conftest import DATETIME, doc, error


def _person(api, body):
    return api.control("POST", "inspections", body)


def test_it_logs_api_calls_only_with_path_query_status_and_key(api):
    api.get("/v2/inspectors", params={"page[size]": 2})
    api.post("/v2/inspections", json={"data": {}}, headers={"Idempotency-Key": "log-1"})
    api.get("/_sandbox/state")
    api.http.get(f"{api.url}/v2/services", headers={"Authorization": "Bearer nope"})
    log = api.log()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/v2/inspectors", 200),
        ("POST", "/v2/inspections", 422),
        ("GET", "/v2/services", 401),
    ]
    assert log[0]["query"] == "page%5Bsize%5D=2"
    assert log[0]["idempotency_key"] is None
    assert log[1]["idempotency_key"] == "log-1"
    assert all(e["at"].endswith("Z") for e in log)
    assert set(log[0]) >= {"method", "path", "query", "status", "idempotency_key", "at"}


def test_reset_returns_to_the_starting_state(api):
    iid = api.create_inspection(external_ref="WO-1")["id"]
    api.control("POST", "faults", {"rules": [{"path": "/v2/services", "mode": "error"}]})
    api.control("POST", "rate_limit", {"per_second": 100})
    api.control("POST", "lock", {"inspection_id": iid, "seconds": 60})
    assert api.control("POST", "reset").json() == {"ok": True}
    assert api.state() == []
    assert api.log() == []
    assert api.control("GET", "faults").json() == {"rules": []}
    assert api.control("GET", "rate_limit").json() == {"per_second": None, "burst": None}
    assert api.get("/v2/services").status_code == 200
    assert api.create_inspection(external_ref="WO-1")["id"] == "1001"
    assert api.patch("/v2/inspections/1001", json=doc("inspections", notes="x")).status_code == 200


def test_the_state_dump_is_flat(api):
    iid = api.create_inspection(external_ref="WO-9", client_name="Lee")["id"]
    aid = api.add(iid, "assignments", inspector_id="insp-5", primary=True).json()["data"]["id"]
    lid = api.add(iid, "line_items", service_id="svc-2", quantity=2).json()["data"]["id"]
    rid = api.add(iid, "reports", template_id="tpl-4").json()["data"]["id"]
    (flat,) = api.state()
    attrs = api.get(f"/v2/inspections/{iid}").json()["data"]["attributes"]
    assert flat == {
        "id": iid,
        **attrs,
        "assignments": [{"id": aid, "inspector_id": "insp-5", "primary": True}],
        "line_items": [
            {
                "id": lid,
                "service_id": "svc-2",
                "name": "Pre-Listing Inspection",
                "price_cents": 40000,
                "quantity": 2,
            }
        ],
        "reports": [{"id": rid, "template_id": "tpl-4", "status": "empty"}],
    }


def test_a_person_creates_an_inspection_in_spectora(api):
    resp = _person(
        api,
        {
            "attributes": {
                "datetime": DATETIME,
                "full_address": "77 Pine St",
                "client_name": "Kim",
            },
            "assignments": [{"inspector_id": "insp-2", "primary": True}],
            "line_items": [{"service_id": "svc-1"}, {"service_id": "svc-5", "price_cents": 12000}],
            "reports": [{"template_id": "tpl-1"}],
        },
    )
    assert resp.status_code == 201
    flat = resp.json()
    assert flat["origin"] == "spectora"
    assert flat["external_ref"] is None
    assert [a["inspector_id"] for a in flat["assignments"]] == ["insp-2"]
    assert [li["price_cents"] for li in flat["line_items"]] == [45000, 12000]
    assert flat["reports"][0]["status"] == "empty"
    api_view = api.get(f"/v2/inspections/{flat['id']}").json()["data"]["attributes"]
    assert api_view["origin"] == "spectora"
    assert [e["path"] for e in api.log()] == [f"/v2/inspections/{flat['id']}"]


def test_a_person_changes_an_inspection_and_its_children_keeping_ids(api):
    iid = api.create_inspection()["id"]
    aid = api.add(iid, "assignments", inspector_id="insp-1", primary=True).json()["data"]["id"]
    lid = api.add(iid, "line_items", service_id="svc-1").json()["data"]["id"]
    rid = api.add(iid, "reports", template_id="tpl-1").json()["data"]["id"]
    before = api.updated_at(iid)
    resp = _person(
        api,
        {
            "id": iid,
            "attributes": {"duration": 240, "notes": "Moved by the office"},
            "assignments": [
                {"inspector_id": "insp-1", "primary": False},
                {"inspector_id": "insp-3", "primary": True},
            ],
            "line_items": [{"id": lid, "quantity": 2}, {"service_id": "svc-7"}],
            "reports": [{"template_id": "tpl-1", "status": "started"}],
        },
    )
    assert resp.status_code == 200
    flat = resp.json()
    assert flat["duration"] == 240 and flat["origin"] == "api"
    assert flat["updated_at"] > before
    assert flat["assignments"][0] == {"id": aid, "inspector_id": "insp-1", "primary": False}
    assert flat["assignments"][1]["inspector_id"] == "insp-3"
    assert flat["line_items"][0] == {
        "id": lid,
        "service_id": "svc-1",
        "name": "Full Home Inspection",
        "price_cents": 45000,
        "quantity": 2,
    }
    assert flat["line_items"][1]["service_id"] == "svc-7"
    assert flat["reports"] == [{"id": rid, "template_id": "tpl-1", "status": "started"}]
    emptied = _person(api, {"id": iid, "assignments": [], "line_items": []}).json()
    assert emptied["assignments"] == [] and emptied["line_items"] == []
    assert emptied["reports"] == flat["reports"]


def test_a_person_cancels_an_inspection(api):
    iid = api.create_inspection()["id"]
    resp = _person(
        api,
        {
            "id": iid,
            "attributes": {
                "canceled_at": "2025-11-30T10:00:00-05:00",
                "cancel_reason": "Client called",
            },
        },
    )
    assert resp.status_code == 200
    assert resp.json()["canceled_at"] == "2025-11-30T15:00:00.000000Z"
    resp = api.patch(f"/v2/inspections/{iid}", json=doc("inspections", notes="x"))
    assert error(resp)["code"] == "inspection_canceled"


def test_a_person_deletes_an_inspection(api):
    iid = api.create_inspection(external_ref="WO-3")["id"]
    resp = _person(api, {"id": iid, "delete": True})
    assert resp.status_code == 200
    assert resp.json()["deleted"] is True and resp.json()["id"] == iid
    assert api.get(f"/v2/inspections/{iid}").status_code == 404
    assert api.state() == []
    assert api.get("/v2/inspections", params={"filter[external_ref]": "WO-3"}).json()["data"] == []
    assert api.create_inspection(external_ref="WO-3")["id"] != iid
    assert _person(api, {"id": iid, "delete": True}).status_code == 404


@pytest.mark.parametrize(
    ("body", "code", "pointer"),
    [
        ({"attributes": {"full_address": "x"}}, "validation_failed", "/attributes/datetime"),
        (
            {"attributes": {"origin": "api"}, "id": "1001"},
            "validation_failed",
            "/attributes/origin",
        ),
        (
            {"id": "1001", "assignments": [{"inspector_id": "x"}]},
            "inspector_not_found",
            "/assignments/0/inspector_id",
        ),
        (
            {
                "id": "1001",
                "assignments": [
                    {"inspector_id": "insp-1", "primary": True},
                    {"inspector_id": "insp-2", "primary": True},
                ],
            },
            "validation_failed",
            "/assignments",
        ),
        (
            {"id": "1001", "line_items": [{"service_id": "svc-0"}]},
            "service_not_found",
            "/line_items/0/service_id",
        ),
        (
            {"id": "1001", "reports": [{"template_id": "tpl-1"}, {"template_id": "tpl-1"}]},
            "already_attached",
            "/reports/1/template_id",
        ),
        ({"id": "1001", "colour": "red"}, "validation_failed", "/colour"),
        ({"delete": True}, "validation_failed", "/id"),
    ],
)
def test_a_person_change_is_validated_and_applies_nothing_when_refused(api, body, code, pointer):
    api.create_inspection()
    before = api.state()
    resp = _person(api, body)
    assert resp.status_code == 422, resp.text
    assert error(resp)["code"] == code
    assert error(resp)["source"] == {"pointer": pointer}
    assert api.state() == before


def test_control_endpoints_refuse_a_malformed_body(api):
    resp = api.http.post(f"{api.url}/_sandbox/faults", data=b"{nope")
    assert resp.status_code == 400
    assert error(resp)["code"] == "invalid_json"
    assert resp.headers["Content-Type"] == "application/json"


def test_unknown_routes_answer_404_and_wrong_methods_405(api):
    assert error(api.get("/v2/invoices"))["code"] == "not_found"
    assert api.get("/v2/invoices").status_code == 404
    assert api.get("/_sandbox/nothing").status_code == 404
    assert api.get("/nothing").status_code == 404
    wrong = api.request("PUT", "/v2/inspections/1001", json={})
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "GET, PATCH"
    assert api.get("/_sandbox/reset").status_code == 405
    assert api.delete("/v2/inspections").status_code == 405


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("192.168.1.20", False),
        ("::ffff:10.0.0.5", False),
        ("2001:db8::1", False),
        ("", False),
        ("localhost", False),
        (None, False),
    ],
)
def test_it_recognises_loopback_addresses(address, expected):
    assert is_loopback(address) is expected


def test_control_endpoints_refuse_a_non_loopback_client(sandbox):
    resp = sandbox.server.handle_control("POST", "/_sandbox/reset", b"", "192.168.1.20")
    assert resp.status == 403
    assert resp.body["errors"][0]["code"] == "forbidden"
    ok = sandbox.server.handle_control("GET", "/_sandbox/state", b"", "127.0.0.1")
    assert ok.status == 200


def test_it_keeps_the_connection_alive_and_answers_fast(api):
    api.get("/v2/inspectors")
    started = time.perf_counter()
    for _ in range(50):
        resp = api.get("/v2/inspectors")
    per_call = (time.perf_counter() - started) / 50
    assert resp.status_code == 200
    assert resp.headers.get("Connection") != "close"
    assert per_call < 0.005, f"{per_call * 1000:.2f} ms per GET"


def test_a_204_carries_no_body(api):
    iid = api.create_inspection()["id"]
    aid = api.add(iid, "assignments", inspector_id="insp-1").json()["data"]["id"]
    resp = api.delete(f"/v2/inspections/{iid}/assignments/{aid}")
    assert resp.status_code == 204 and resp.content == b""
    assert api.get("/v2/inspectors").status_code == 200  # same connection still in sync


def test_the_state_machinery_runs_without_http():
    state = SandboxState(base_url="http://sandbox.test")
    events = []
    state.event_sink = lambda *event: events.append(event)
    body = json.dumps(doc("inspections", datetime=DATETIME, full_address="1 A St")).encode()
    auth = {"Authorization": "Bearer sandbox-key"}
    resp = state.handle_api("POST", "/v2/inspections", auth, body)
    assert resp.status == 201
    assert resp.body["data"]["attributes"]["url"] == "http://sandbox.test/inspections/1001"
    status, flat = state.person_change({"id": "1001", "attributes": {"notes": "x"}})
    assert status == 200
    assert events == [("inspection.updated", "1001", flat["updated_at"])]
