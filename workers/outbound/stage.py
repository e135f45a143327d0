"""The outbound actors: send one outbox row, or a batch of them (workers.outbound.sender).

The last stage: nothing goes on. Declared by workers.wiring alone; nothing else imports this
module.
"""

from __future__ import annotations

from workers.app import current_app
from workers.batches import run_batch
from workers.broker import stage_actor
from workers.outbound.sender import SendBatch, send


@stage_actor
def send_outbound(outbound_id: int) -> None:
    send(current_app(), outbound_id)


@stage_actor
def send_outbound_batch(outbound_ids: list[int]) -> None:
    run_batch(SendBatch(current_app()), outbound_ids)
