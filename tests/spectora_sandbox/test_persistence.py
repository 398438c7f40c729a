"""The state file: a restarted sandbox keeps its inspections and never hands out an id twice."""

from __future__ import annotations

import json
import os

import pytest

from spectora_sandbox import SandboxServer, start_sandbox
from spectora_sandbox.store import StateFile

from .conftest import SandboxClient


@pytest.fixture
def state_file(tmp_path):
    return tmp_path / "var" / "sandbox-state.json"


@pytest.fixture
def restartable(state_file):
    """Start (and restart) sandboxes on one state file; stops them all afterwards."""
    running = []

    def start() -> SandboxClient:
        if running:
            running[-1].stop()
        running.append(start_sandbox(state_file=state_file))
        return SandboxClient(running[-1])

    yield start
    for sandbox in running:
        sandbox.stop()


def _without_urls(inspections: list[dict]) -> list[dict]:
    return [{k: v for k, v in i.items() if k != "url"} for i in inspections]


def test_a_restart_with_the_same_file_keeps_inspections_and_the_next_ids_are_new(restartable):
    api = restartable()
    first = api.create_inspection(external_ref="WO-1", client_name="Lee")["id"]
    aid = api.add(first, "assignments", inspector_id="insp-1", primary=True).json()["data"]["id"]
    api.add(first, "line_items", service_id="svc-5")
    api.add(first, "reports", template_id="tpl-2")
    made = api.control("POST", "inspections", {"attributes": {
        "datetime": "2025-12-02T10:00:00Z", "full_address": "9 Oak Ave",
    }}).json()
    before = api.state()

    api = restartable()
    assert _without_urls(api.state()) == _without_urls(before)
    assert api.state()[1]["url"] == f"{api.url}/inspections/{made['id']}"
    third = api.create_inspection(external_ref="WO-3")["id"]
    assert int(third) > int(made["id"]) > int(first)
    new_aid = api.add(third, "assignments", inspector_id="insp-1").json()["data"]["id"]
    assert int(new_aid) > int(aid)
    taken = api.post("/v2/inspections", json={"data": {"type": "inspections", "attributes": {
        "datetime": "2025-12-01T09:00:00Z", "full_address": "1 A St", "external_ref": "WO-1",
    }}})
    assert taken.status_code == 409
    assert taken.json()["errors"][0]["meta"] == {"existing_id": first}


def test_a_deleted_inspection_s_id_is_not_handed_out_again_after_a_restart(restartable):
    api = restartable()
    iid = api.create_inspection()["id"]
    api.control("POST", "inspections", {"id": iid, "delete": True})
    api = restartable()
    assert api.state() == []
    assert int(api.create_inspection()["id"]) > int(iid)


def test_reset_with_a_state_file_clears_inspections_but_never_moves_ids_back(restartable):
    api = restartable()
    first = api.create_inspection(external_ref="WO-1")["id"]
    assert api.control("POST", "reset").json() == {"ok": True}
    assert api.state() == []
    second = api.create_inspection(external_ref="WO-1")["id"]
    assert int(second) > int(first)
    api = restartable()
    assert [i["id"] for i in api.state()] == [second]
    assert int(api.create_inspection()["id"]) > int(second)


def test_an_idempotent_create_is_replayed_after_a_restart(restartable):
    api = restartable()
    body = {"data": {"type": "inspections", "attributes": {
        "datetime": "2025-12-01T09:00:00Z", "full_address": "1 A St",
    }}}
    first = api.post("/v2/inspections", json=body, headers={"Idempotency-Key": "k-1"})
    api = restartable()
    again = api.post("/v2/inspections", json=body, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    assert len(api.state()) == 1


def test_a_change_is_on_disk_before_it_is_answered_and_a_read_writes_nothing(
    restartable, state_file
):
    api = restartable()
    iid = api.create_inspection(external_ref="WO-7")["id"]
    saved = json.loads(state_file.read_text())
    assert [i["id"] for i in saved["inspections"]] == [iid]
    assert saved["next_ids"]["inspection"] == int(iid) + 1
    inode = os.stat(state_file).st_ino
    api.get(f"/v2/inspections/{iid}")
    api.get("/v2/inspections")
    api.control("GET", "state")
    api.patch(f"/v2/inspections/{iid}", json={"data": {"type": "inspections", "attributes": {}}})
    assert os.stat(state_file).st_ino == inode  # nothing changed, nothing written
    api.patch(f"/v2/inspections/{iid}", json={"data": {"type": "inspections", "attributes": {
        "notes": "gate code 1234"}}})
    assert os.stat(state_file).st_ino != inode
    assert json.loads(state_file.read_text())["inspections"][0]["attrs"]["notes"] == (
        "gate code 1234"
    )


def test_a_failed_save_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    StateFile(path).save({"next_ids": {}, "inspections": []})
    before = path.read_bytes()

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError):
        StateFile(path).save({"next_ids": {"inspection": 5000}, "inspections": []})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["state.json"]  # no temporary file left behind


@pytest.mark.parametrize("content", ["{not json", '{"format": 99}', '{"format": 1}'])
def test_an_unreadable_state_file_stops_the_start_instead_of_reusing_ids(state_file, content):
    state_file.parent.mkdir(parents=True)
    state_file.write_text(content)
    with pytest.raises(ValueError, match="state"):
        SandboxServer("127.0.0.1", 0, state_file=state_file)
    assert state_file.read_text() == content  # left for a person to look at


def test_without_a_state_file_nothing_is_written_and_reset_starts_ids_again(tmp_path):
    with start_sandbox() as sandbox:
        api = SandboxClient(sandbox)
        assert api.create_inspection()["id"] == "1001"
        api.control("POST", "reset")
        assert api.create_inspection()["id"] == "1001"
    assert sandbox.state.state_file is None
