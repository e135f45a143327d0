"""Every hop from one stage to the next: which actor gets which ids.

The stages hand over ids, never rows (the rows are committed first). The actors are found by
name on the process's broker (workers.wiring declares them), so no stage imports the next
one. Batch hops send one message per `size` ids.
"""

from __future__ import annotations

from collections.abc import Sequence

import dramatiq

DEFAULT_SIZE = 20  # ids per message where the caller has no setting of its own


def _send(actor_name: str, ids: Sequence[int], size: int = DEFAULT_SIZE) -> None:
    actor = dramatiq.get_broker().get_actor(actor_name)
    for start in range(0, len(ids), size):
        actor.send(list(ids[start : start + size]))


def to_ingest(raw_ids: Sequence[int], size: int) -> None:
    """Stored mails (the poller, the sweeper, the CLI)."""
    _send("ingest_batch", raw_ids, size)


def after_ingest(outbound_ids: Sequence[int], new_case_ids: Sequence[int]) -> None:
    """Ingest's replies to the sender, its new cases to classification."""
    if outbound_ids:
        to_sender(outbound_ids, len(outbound_ids))
    if new_case_ids:
        to_classify(new_case_ids, len(new_case_ids))


def to_classify(case_ids: Sequence[int], size: int = DEFAULT_SIZE) -> None:
    _send("classify_batch", case_ids, size)


def to_route(case_ids: Sequence[int]) -> None:
    """Classified cases, together."""
    if case_ids:
        _send("route_batch", case_ids, len(case_ids))


def to_sender(outbound_ids: Sequence[int], size: int = DEFAULT_SIZE) -> None:
    if outbound_ids:
        _send("send_outbound_batch", outbound_ids, max(size, 1))


def to_clock(deadline_ids: Sequence[int]) -> None:
    """Due deadlines, one message each (each has its own retries)."""
    actor = dramatiq.get_broker().get_actor("deadline_due")
    for deadline_id in deadline_ids:
        actor.send(deadline_id)


def alone(actor_name: str, item_id: int, delay_ms: int) -> None:
    """One item of a batch, on its own to the one-item actor (full retries and backoff)."""
    dramatiq.get_broker().get_actor(actor_name).send_with_options(args=(item_id,), delay=delay_ms)
