"""The demo's sandbox holds one job booked in Spectora, created once."""

from spectora_sandbox.management.commands.spectora_sandbox import ensure_demo_job
from spectora_sandbox.state import SandboxState


def spectora_origin(state):
    return [job for job in state.dump()["inspections"] if job["origin"] == "spectora"]


def test_an_empty_sandbox_gets_one_spectora_origin_job_with_an_inspector_and_a_service():
    state = SandboxState()
    sent = []
    state.event_sink = lambda *event: sent.append(event)
    job_id = ensure_demo_job(state)
    (job,) = spectora_origin(state)
    assert job["id"] == job_id
    assert job["assignments"] and job["line_items"]
    assert [event[0] for event in sent] == ["inspection.created"]  # Attik hears of it


def test_it_is_not_created_twice_across_restarts(tmp_path):
    state_file = tmp_path / "sandbox.json"
    assert ensure_demo_job(SandboxState(state_file=state_file)) is not None
    assert ensure_demo_job(SandboxState(state_file=state_file)) is None
    assert len(spectora_origin(SandboxState(state_file=state_file))) == 1
