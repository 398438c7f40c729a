"""Idempotency-Key on POST: replay the first answer, change nothing."""

import time

from .conftest import DATETIME, doc, error

CREATE = doc("inspections", datetime=DATETIME, full_address="9 Birch Road")


def test_a_repeated_key_creates_one_inspection_and_replays_the_same_body(api):
    first = api.post("/v2/inspections", json=CREATE, headers={"Idempotency-Key": "k-1"})
    second = api.post("/v2/inspections", json=CREATE, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(api.state()) == 1


def test_a_replay_changes_nothing_even_with_a_different_body(api):
    iid = api.create_inspection()["id"]
    before = api.updated_at(iid)
    path = f"/v2/inspections/{iid}/line_items"
    first = api.post(
        path, json=doc("line_items", service_id="svc-5"), headers={"Idempotency-Key": "li"}
    )
    after_first = api.updated_at(iid)
    replay = api.post(
        path, json=doc("line_items", service_id="svc-8"), headers={"Idempotency-Key": "li"}
    )
    assert replay.json() == first.json()
    assert after_first > before
    assert api.updated_at(iid) == after_first
    assert [li["service_id"] for li in api.state()[0]["line_items"]] == ["svc-5"]


def test_different_keys_are_different_requests(api):
    api.post("/v2/inspections", json=CREATE, headers={"Idempotency-Key": "a"})
    api.post("/v2/inspections", json=CREATE, headers={"Idempotency-Key": "b"})
    assert len(api.state()) == 2


def test_it_refuses_a_key_reused_on_another_path(api):
    created = api.post("/v2/inspections", json=CREATE, headers={"Idempotency-Key": "k"})
    iid = created.json()["data"]["id"]
    resp = api.post(f"/v2/inspections/{iid}/cancel", json={}, headers={"Idempotency-Key": "k"})
    assert resp.status_code == 422
    assert error(resp)["code"] == "idempotency_key_reused"
    assert api.state()[0]["canceled_at"] is None


def test_it_replays_a_final_error_too(api):
    api.create_inspection(external_ref="WO-5")
    body = doc("inspections", external_ref="WO-5", datetime=DATETIME, full_address="x")
    first = api.post("/v2/inspections", json=body, headers={"Idempotency-Key": "dup"})
    second = api.post("/v2/inspections", json=body, headers={"Idempotency-Key": "dup"})
    assert first.status_code == second.status_code == 409
    assert second.json() == first.json()


def test_it_does_not_store_a_transient_locked_answer(api):
    iid = api.create_inspection()["id"]
    api.control("POST", "lock", {"inspection_id": iid, "seconds": 30})
    path = f"/v2/inspections/{iid}/assignments"
    body = doc("assignments", inspector_id="insp-1")
    locked = api.post(path, json=body, headers={"Idempotency-Key": "as-1"})
    assert locked.status_code == 423
    api.control("POST", "lock", {"inspection_id": iid, "seconds": 0})
    retried = api.post(path, json=body, headers={"Idempotency-Key": "as-1"})
    assert retried.status_code == 201


def test_a_key_expires_after_24_hours(api, sandbox):
    api.post("/v2/inspections", json=CREATE, headers={"Idempotency-Key": "old"})
    with sandbox.state.lock:
        sandbox.state.idempotency.entries["old"].stored_at = time.time() - 24 * 3600 - 1
    again = api.post("/v2/inspections", json=CREATE, headers={"Idempotency-Key": "old"})
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers
    assert len(api.state()) == 2


def test_a_key_on_a_non_post_is_ignored(api):
    iid = api.create_inspection()["id"]
    for notes in ("one", "two"):
        api.patch(
            f"/v2/inspections/{iid}",
            json=doc("inspections", notes=notes),
            headers={"Idempotency-Key": "p"},
        )
    assert api.state()[0]["notes"] == "two"
