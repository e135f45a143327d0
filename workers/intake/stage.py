"""The intake actors: ingest one stored mail, or a batch of them (workers.intake.ingest).

Next hop (workers.hops.after_ingest): the replies to the sender, new cases to classification.
Declared by workers.wiring alone; nothing else imports this module.
"""

from __future__ import annotations

from workers.app import current_app
from workers.batches import run_batch
from workers.broker import stage_actor
from workers.intake.ingest import IngestBatch, ingest, pass_on


@stage_actor
def ingest_message(raw_id: int) -> None:
    """One mail on its own: a retry, or a mail a batch set aside (failures are recorded on
    the row by workers.intake.failures.RecordIngestFailure)."""
    pass_on([ingest(current_app(), raw_id)])


@stage_actor
def ingest_batch(raw_ids: list[int]) -> None:
    """The poller's and the sweeper's way in: many mails per message."""
    run_batch(IngestBatch(current_app()), raw_ids)
