"""Apply a plan to Spectora, in order, through the client.

Create is idempotent twice over, with no search first: the POST carries an
``Idempotency-Key`` derived from the workorder (a retry after a lost answer
gets the same job back), and a 409 ``external_ref_taken`` links to the
inspection Spectora names. Either way the caller stores the id at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from spectora_integration.client import ExternalRefTaken, Inspection, SpectoraClient
from spectora_integration.sync import planner
from spectora_integration.sync.planner import Op, Operation


@dataclass
class Outcome:
    inspection_id: str | None
    url: str = ""
    applied: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)  # carried out or kept, in order
    linked_existing: bool = False
    stale_replay: bool = False  # a replayed create answered with older attributes

    @property
    def replan(self) -> bool:
        """The rest of the plan assumed a fresh empty job: re-read it and plan again."""
        return self.linked_existing or self.stale_replay


def create_key(workorder) -> str:
    return f"attik-create-{workorder.company_id}-{workorder.pk}"


def apply_plan(
    client: SpectoraClient,
    plan: list[Operation],
    *,
    inspection_id: str | None,
    key_prefix: str,
    create_idempotency_key: str,
    on_created: Callable[[str, str], None] | None = None,
) -> Outcome:
    """Run each operation; raises the client's SpectoraError at the first failure.

    ``key_prefix`` makes child POST keys unique per execution, so a retried
    attempt re-plans from a fresh read rather than replaying stale answers.
    ``on_created(inspection_id, url)`` is called as soon as the create answers
    (or a 409 names the existing job), before any child: the caller stores the
    id at once, so a failure later in the plan never loses it.
    """
    outcome = Outcome(inspection_id=inspection_id)
    for index, op in enumerate(plan):
        if op.op == Op.KEEP_REPORT:
            outcome.notes.append(op.description)
            outcome.operations.append(op)
            continue
        if op.op == Op.CREATE_INSPECTION:
            _create(client, op, outcome, create_idempotency_key)
            if on_created is not None:
                on_created(outcome.inspection_id, outcome.url)
            if outcome.replan:
                return outcome
            continue
        assert outcome.inspection_id, "child operation before the inspection exists"
        _apply_one(client, op, outcome.inspection_id, f"{key_prefix}-{index}")
        outcome.applied.append(op.description)
        outcome.operations.append(op)
    return outcome


def _create(client: SpectoraClient, op: Operation, outcome: Outcome, key: str) -> None:
    try:
        created: Inspection = client.inspection_create(op.attributes, idempotency_key=key)
    except ExternalRefTaken as taken:
        if not taken.existing_id:
            raise
        outcome.inspection_id = taken.existing_id
        outcome.linked_existing = True
        outcome.notes.append(
            f"Spectora already had this job (inspection {taken.existing_id}); linked to it."
        )
        return
    outcome.inspection_id = created.id
    outcome.url = created.url
    outcome.applied.append(op.description)
    outcome.operations.append(op)
    # The same key within 24 h replays the first answer: if the workorder changed since
    # that first (lost) answer, the job holds the older values.
    outcome.stale_replay = bool(planner.attributes_differ(op.attributes, created))


def _apply_one(client: SpectoraClient, op: Operation, inspection_id: str, key: str) -> None:
    if op.op == Op.PATCH_INSPECTION:
        client.inspection_update(inspection_id, op.attributes)
        return
    kind = planner.CHILD_KIND[op.op]
    if op.op in (Op.ADD_ASSIGNMENT, Op.ADD_LINE_ITEM, Op.ADD_REPORT):
        client.child_add(inspection_id, kind, op.attributes, idempotency_key=key)
    elif op.op in (Op.SET_PRIMARY, Op.UPDATE_LINE_ITEM):
        client.child_update(inspection_id, kind, op.target_id, op.attributes)
    else:
        client.child_remove(inspection_id, kind, op.target_id)
