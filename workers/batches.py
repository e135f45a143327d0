"""The one batch runner of ingest, classification, routing and sending.

A batch stage says what it loads, what it does to one item inside the batch's transaction,
what it does to one item on its own, and where the results go next; `run_batch` does the rest
the same way for each:
- PostgreSQL: the whole batch in one transaction, without savepoints; when an item raises,
  the transaction has rolled back and the batch runs again with a savepoint per item, where a
  failing item is set aside and its neighbours go on (models.db.together_then_apart);
- SQLite (one writer, the demo) and stages whose items are their own transactions: item by
  item;
- a failed item goes on alone to the stage's one-item actor, with that actor's retries and
  backoff; the results go to the next hop;
- every item has its own time budget (`item_seconds`, workers.item_budget): an item that runs
  past it is interrupted, rolled back alone and given up (`give_up`: ingest quarantines the
  mail with the reason), is never tried again in the batch, and its neighbours go on. When
  Dramatiq's time limit for the whole message strikes an item instead, that item fails like
  any other (it goes on alone, with the one-item actor's own limit): it may only have come
  last after slow neighbours.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

from dramatiq.middleware.time_limit import TimeLimitExceeded
from sqlmodel import Session

from models.db import each_item, session_scope, together_then_apart
from workers import hops
from workers.app import App
from workers.item_budget import ItemTimeExceeded, item_budget

log = logging.getLogger(__name__)
R = TypeVar("R")

# Seconds one item of a batch may take: a complaint takes milliseconds, a hostile one a few
# seconds now that every text heuristic is bounded; the batch actors' time limits (broker.py)
# cover a batch of slow items.
ITEM_SECONDS = 60.0


class ItemInterrupted(Exception):
    """An item's time ran out (its budget, or its message's time limit), as an ordinary
    exception: the item's savepoint catches it, and a batch without savepoints rolls back
    and runs again with them (models.db.together_then_apart)."""

    def __init__(self, item_id: int, reason: str, over_budget: bool) -> None:
        super().__init__(reason)
        self.item_id, self.reason, self.over_budget = item_id, reason, over_budget


def _interrupted(item_id: int, error: BaseException, seconds: float) -> ItemInterrupted:
    if isinstance(error, ItemTimeExceeded):
        return ItemInterrupted(item_id, f"took longer than its {seconds:g} s time budget", True)
    return ItemInterrupted(item_id, "its batch ran out of time (the message's time limit)", False)


class BatchStage(Generic[R]):
    """One stage's part in run_batch. Subclasses set the class attributes and override
    `load`, `work` and `one` (and `begin`, `set_aside`, `next_hop` where they need to)."""

    what = "batch"  # for the logs: "ingest", "classify", …
    alone_actor = ""  # the one-item actor a failed item goes on to
    alone_delay_ms = 500
    together = True  # whether items can share a transaction (PostgreSQL)
    item_seconds = ITEM_SECONDS  # each item's time budget

    def __init__(self, app: App) -> None:
        self.app = app

    def admit(self, ids: Sequence[int]) -> tuple[list[int], list[int]]:
        """Before a batch in one transaction: (the ids it takes, the ids that go alone)."""
        return list(ids), []

    def begin(self, session: Session, savepoints: bool) -> None:
        """Before a pass over the batch (again after a rolled-back pass)."""

    def load(self, session: Session, ids: Sequence[int]) -> Iterable[tuple[int, Any]]:
        """The batch's items, row-locked in id order (concurrent batches never deadlock)."""
        raise NotImplementedError

    def work(self, session: Session, row: Any) -> R:
        """One item inside the batch's transaction."""
        raise NotImplementedError

    def one(self, item_id: int) -> R | None:
        """One item in its own transactions (item by item); None: nothing to pass on."""
        raise NotImplementedError

    def set_aside(self, item_id: int, error: BaseException) -> None:
        """An item that raised; it goes on alone after this."""

    def give_up(self, item_id: int, reason: str) -> bool:
        """An item that ran past its time budget, after its batch (in its own transaction).
        True: dealt with for good (quarantined); False: it goes on alone like a failed one."""
        self.set_aside(item_id, ItemInterrupted(item_id, reason, True))
        return False

    def next_hop(self, results: list[R]) -> None:
        """Where the results go."""


def work_within_budget(stage: BatchStage[R], session: Session, item_id: int, row: Any) -> R:
    """stage.work on one item under its time budget; ItemInterrupted when time runs out."""
    try:
        with item_budget(stage.item_seconds):
            return stage.work(session, row)
    except (ItemTimeExceeded, TimeLimitExceeded) as e:
        raise _interrupted(item_id, e, stage.item_seconds) from e


def give_up_on(stage: BatchStage[R], over_budget: dict[int, str]) -> list[int]:
    """Each item that ran past its budget, given up; the ids that go on alone all the same."""
    alone = []
    for item_id, reason in over_budget.items():
        log.warning("%s %s %s; given up", stage.what, item_id, reason)
        if not stage.give_up(item_id, reason):
            alone.append(item_id)
    return alone


def in_one_transaction(stage: BatchStage[R], ids: Sequence[int]) -> tuple[list[R], list[int]]:
    """The results, and the ids of the items that raised or were given up and go alone."""
    over_budget: dict[int, str] = {}  # kept across passes: such an item is not tried again

    def run(savepoints: bool) -> tuple[list[R], list[tuple[int, Exception]]]:
        results: list[R] = []
        failed: list[tuple[int, Exception]] = []
        with session_scope(stage.app.db_url) as session:
            stage.begin(session, savepoints)
            for item_id, row in stage.load(session, ids):
                if item_id in over_budget:
                    continue
                try:
                    with each_item(session, savepoints) as item:
                        results.append(work_within_budget(stage, session, item_id, row))
                except ItemInterrupted as e:  # without savepoints: the pass rolls back
                    if e.over_budget:
                        over_budget[item_id] = e.reason
                    raise
                error = item.error
                if isinstance(error, ItemInterrupted) and error.over_budget:
                    over_budget[item_id] = error.reason
                elif error is not None:  # this item only; its neighbours go on
                    log.warning(
                        "%s %s failed in a batch: %s; retried on its own",
                        stage.what,
                        item_id,
                        error,
                        exc_info=error,
                    )
                    failed.append((item_id, error))
        return results, failed

    results, failed = together_then_apart(run, f"{stage.what} batch")
    for item_id, error in failed:
        stage.set_aside(item_id, error)
    return results, [item_id for item_id, _ in failed] + give_up_on(stage, over_budget)


def together(stage: BatchStage[R], ids: Sequence[int]) -> tuple[list[R], list[int]]:
    """The batch in one transaction: the results, and the ids left to go alone (the ones the
    stage did not admit, and the ones that raised)."""
    taken, held = stage.admit(ids)
    results, failed = in_one_transaction(stage, taken) if taken else ([], [])
    return results, held + failed


def item_by_item(stage: BatchStage[R], ids: Sequence[int]) -> tuple[list[R], list[int]]:
    results: list[R] = []
    failed: list[int] = []
    over_budget: dict[int, str] = {}
    for item_id in ids:
        try:
            try:
                with item_budget(stage.item_seconds):
                    result = stage.one(item_id)
            except (ItemTimeExceeded, TimeLimitExceeded) as e:
                raise _interrupted(item_id, e, stage.item_seconds) from e
        except ItemInterrupted as e:
            if e.over_budget:
                over_budget[item_id] = e.reason
                continue
            log.warning("%s %s: %s; retried on its own", stage.what, item_id, e)
            stage.set_aside(item_id, e)
            failed.append(item_id)
            continue
        except Exception as e:
            log.warning("%s %s: %s; retried on its own", stage.what, item_id, e)
            stage.set_aside(item_id, e)
            failed.append(item_id)
            continue
        if result is not None:
            results.append(result)
    return results, failed + give_up_on(stage, over_budget)


def run_batch(stage: BatchStage[R], ids: Sequence[int]) -> None:
    one_transaction = stage.together and stage.app.db_url.startswith("postgresql")
    results, failed = (together if one_transaction else item_by_item)(stage, ids)
    for item_id in failed:
        hops.alone(stage.alone_actor, item_id, stage.alone_delay_ms)
    stage.next_hop(results)
