"""The triage actors: classify a new case (workers.triage.classify_case), then route it
(workers.triage.route_case); one case alone, or a batch.

Next hops (workers.hops): classified cases to routing, the routing mails to the sender.
Declared by workers.wiring alone; nothing else imports this module.
"""

from __future__ import annotations

from workers import hops
from workers.app import current_app
from workers.batches import run_batch
from workers.broker import stage_actor
from workers.triage.classify_case import ClassifyBatch, classify_stored, current_model
from workers.triage.route_case import RouteBatch, route_stored


@stage_actor
def classify_case(case_id: int) -> None:
    app = current_app()
    if classify_stored(app, case_id, current_model(app)):
        hops.to_route([case_id])


@stage_actor
def classify_batch(case_ids: list[int]) -> None:
    """The new cases of one ingest batch; a case that fails goes on alone (classify_case)."""
    app = current_app()
    run_batch(ClassifyBatch(app, current_model(app)), case_ids)


@stage_actor
def route_case(case_id: int) -> None:
    hops.to_sender(route_stored(current_app(), case_id))


@stage_actor
def route_batch(case_ids: list[int]) -> None:
    """Cases classified together; a case that fails goes on alone (route_case)."""
    run_batch(RouteBatch(current_app()), case_ids)
