"""The clock's actor: act on one due deadline (workers.clock.due): a reminder, an escalation,
an automatic ending.

Next hop (workers.hops.to_sender): the mails it queued. Declared by workers.wiring alone;
nothing else imports this module.
"""

from __future__ import annotations

from models.types import utcnow
from workers import hops
from workers.app import current_app
from workers.broker import stage_actor
from workers.clock.due import run_due


@stage_actor
def deadline_due(deadline_id: int) -> None:
    hops.to_sender(run_due(current_app(), deadline_id, utcnow()).outbound_ids)
