"""Fault injection, the rate limit and the mobile Sync Lock."""

import time

import pytest
import requests

from .conftest import DATETIME, doc, error

CREATE = doc("inspections", datetime=DATETIME, full_address="3 Cedar Lane")


def _faults(api, *rules, seed=None):
    body = {"rules": list(rules)}
    if seed is not None:
        body["seed"] = seed
    resp = api.control("POST", "faults", body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_an_error_fault_answers_503_and_applies_nothing(api):
    _faults(api, {"method": "POST", "path": "/v2/inspections*", "mode": "error"})
    resp = api.post("/v2/inspections", json=CREATE)
    assert resp.status_code == 503
    assert error(resp)["code"] == "service_unavailable"
    assert api.state() == []
    assert api.log()[-1]["fault"] == "error"
    assert api.get("/v2/inspections").status_code == 200  # GET does not match


def test_an_error_fault_uses_its_status_and_delay(api):
    _faults(
        api,
        {"method": "*", "path": "/v2/services", "mode": "error", "status": 502, "delay_ms": 150},
    )
    started = time.monotonic()
    resp = api.get("/v2/services")
    assert time.monotonic() - started >= 0.14
    assert resp.status_code == 502
    assert error(resp)["code"] == "bad_gateway"


def test_an_error_fault_is_not_stored_under_the_idempotency_key(api):
    _faults(api, {"method": "POST", "path": "/v2/inspections", "mode": "error", "times": 1})
    key = {"Idempotency-Key": "retry-me"}
    assert api.post("/v2/inspections", json=CREATE, headers=key).status_code == 503
    retried = api.post("/v2/inspections", json=CREATE, headers=key)
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert len(api.state()) == 1


def test_a_timeout_fault_holds_the_connection_then_closes_it_and_applies_nothing(api):
    _faults(
        api,
        {
            "method": "POST",
            "path": "/v2/inspections",
            "mode": "timeout",
            "delay_ms": 400,
            "times": 1,
        },
    )
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post("/v2/inspections", json=CREATE, timeout=(2, 0.15))
    assert api.state() == []
    entry = api.log()[-1]
    assert entry["fault"] == "timeout" and entry["status"] is None
    assert api.post("/v2/inspections", json=CREATE).status_code == 201


def test_a_timeout_fault_closes_without_any_response(api, sandbox):
    _faults(api, {"method": "GET", "path": "/v2/templates", "mode": "timeout", "delay_ms": 50})
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get("/v2/templates", timeout=5)


def test_an_applied_then_error_fault_commits_then_answers_500(api):
    _faults(
        api, {"method": "POST", "path": "/v2/inspections", "mode": "applied_then_error", "times": 1}
    )
    key = {"Idempotency-Key": "ate-1"}
    failed = api.post("/v2/inspections", json=CREATE, headers=key)
    assert failed.status_code == 500
    assert error(failed)["code"] == "internal_error"
    assert len(api.state()) == 1
    retried = api.post("/v2/inspections", json=CREATE, headers=key)
    assert retried.status_code == 201
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.json()["data"]["id"] == api.state()[0]["id"]
    assert len(api.state()) == 1


def test_a_fault_fires_at_most_times_times(api):
    _faults(api, {"method": "GET", "path": "/v2/inspectors", "mode": "error", "times": 2})
    statuses = [api.get("/v2/inspectors").status_code for _ in range(4)]
    assert statuses == [503, 503, 200, 200]
    assert api.control("GET", "faults").json()["rules"][0]["fired"] == 2


def test_a_fault_fires_at_about_its_rate(api):
    _faults(api, {"method": "GET", "path": "/v2/*", "mode": "error", "rate": 0.3}, seed=7)
    statuses = [api.get("/v2/templates").status_code for _ in range(200)]
    failures = statuses.count(503)
    assert 35 <= failures <= 85, failures
    _faults(api, {"method": "GET", "path": "/v2/*", "mode": "error", "rate": 0})
    assert all(api.get("/v2/templates").status_code == 200 for _ in range(20))


def test_the_first_firing_rule_wins(api):
    _faults(
        api,
        {"method": "GET", "path": "/v2/services*", "mode": "error", "status": 502, "times": 1},
        {"method": "*", "path": "/v2/*", "mode": "error", "status": 504},
    )
    assert api.get("/v2/services").status_code == 502
    assert api.get("/v2/services").status_code == 504
    assert api.get("/v2/inspectors").status_code == 504


def test_faults_are_replaced_and_cleared(api):
    _faults(api, {"path": "/v2/*", "mode": "error"})
    assert api.get("/v2/services").status_code == 503
    _faults(api)
    assert api.get("/v2/services").status_code == 200


@pytest.mark.parametrize(
    "rule",
    [
        {"mode": "explode"},
        {"mode": "error", "rate": 2},
        {"mode": "error", "status": 200},
        {"mode": "error", "times": -1},
        {"mode": "timeout", "delay_ms": "long"},
    ],
)
def test_it_refuses_a_bad_fault_rule(api, rule):
    resp = api.control("POST", "faults", {"rules": [rule]})
    assert resp.status_code == 422
    assert error(resp)["code"] == "validation_failed"


def test_it_answers_429_with_retry_after_over_the_rate_limit(api):
    resp = api.control("POST", "rate_limit", {"per_second": 0.5, "burst": 3})
    assert resp.json() == {"per_second": 0.5, "burst": 3}
    statuses = [api.get("/v2/inspectors").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = api.get("/v2/inspectors")
    assert limited.status_code == 429
    assert error(limited)["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    api.control("POST", "rate_limit", {"per_second": None})
    assert api.get("/v2/inspectors").status_code == 200


def test_the_rate_limit_refills_over_time(api):
    api.control("POST", "rate_limit", {"per_second": 20, "burst": 1})
    assert api.get("/v2/services").status_code == 200
    limited = api.get("/v2/services")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    time.sleep(0.06)
    assert api.get("/v2/services").status_code == 200


def test_it_refuses_a_bad_rate_limit(api):
    assert api.control("POST", "rate_limit", {"per_second": 0}).status_code == 422
    assert api.control("POST", "rate_limit", {"per_second": 5, "burst": 0}).status_code == 422


def test_a_locked_inspection_refuses_writes_then_unlocks(api):
    iid = api.create_inspection()["id"]
    aid = api.add(iid, "assignments", inspector_id="insp-1").json()["data"]["id"]
    resp = api.control("POST", "lock", {"inspection_id": iid, "seconds": 0.4})
    assert resp.json()["locked"] is True
    attempts = [
        api.patch(f"/v2/inspections/{iid}", json=doc("inspections", notes="x")),
        api.post(f"/v2/inspections/{iid}/cancel", json={"reason": "x"}),
        api.add(iid, "line_items", service_id="svc-1"),
        api.delete(f"/v2/inspections/{iid}/assignments/{aid}"),
    ]
    for locked in attempts:
        assert locked.status_code == 423
        assert error(locked)["code"] == "inspection_locked"
        assert int(locked.headers["Retry-After"]) >= 1
    assert api.get(f"/v2/inspections/{iid}?include=assignments").status_code == 200
    other = api.create_inspection()["id"]
    assert api.add(other, "line_items", service_id="svc-1").status_code == 201
    time.sleep(0.45)
    assert (
        api.patch(f"/v2/inspections/{iid}", json=doc("inspections", notes="x")).status_code == 200
    )


def test_it_refuses_to_lock_an_unknown_inspection(api):
    resp = api.control("POST", "lock", {"inspection_id": "4040", "seconds": 5})
    assert resp.status_code == 404
