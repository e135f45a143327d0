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
  backoff; the results go to the next hop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

from sqlmodel import Session

from models.db import each_item, session_scope, together_then_apart
from workers import hops
from workers.app import App

log = logging.getLogger(__name__)
R = TypeVar("R")


class BatchStage(Generic[R]):
    """One stage's part in run_batch. Subclasses set the class attributes and override
    `load`, `work` and `one` (and `begin`, `set_aside`, `next_hop` where they need to)."""

    what = "batch"  # for the logs: "ingest", "classify", …
    alone_actor = ""  # the one-item actor a failed item goes on to
    alone_delay_ms = 500
    together = True  # whether items can share a transaction (PostgreSQL)

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

    def next_hop(self, results: list[R]) -> None:
        """Where the results go."""


def in_one_transaction(stage: BatchStage[R], ids: Sequence[int]) -> tuple[list[R], list[int]]:
    """The results, and the ids of the items that raised."""

    def run(savepoints: bool) -> tuple[list[R], list[tuple[int, Exception]]]:
        results: list[R] = []
        failed: list[tuple[int, Exception]] = []
        with session_scope(stage.app.db_url) as session:
            stage.begin(session, savepoints)
            for item_id, row in stage.load(session, ids):
                with each_item(session, savepoints) as item:
                    results.append(stage.work(session, row))
                if item.error is not None:  # this item only; its neighbours go on
                    log.warning(
                        "%s %s failed in a batch: %s; retried on its own",
                        stage.what,
                        item_id,
                        item.error,
                        exc_info=item.error,
                    )
                    failed.append((item_id, item.error))
        return results, failed

    results, failed = together_then_apart(run, f"{stage.what} batch")
    for item_id, error in failed:
        stage.set_aside(item_id, error)
    return results, [item_id for item_id, _ in failed]


def together(stage: BatchStage[R], ids: Sequence[int]) -> tuple[list[R], list[int]]:
    """The batch in one transaction: the results, and the ids left to go alone (the ones the
    stage did not admit, and the ones that raised)."""
    taken, held = stage.admit(ids)
    results, failed = in_one_transaction(stage, taken) if taken else ([], [])
    return results, held + failed


def item_by_item(stage: BatchStage[R], ids: Sequence[int]) -> tuple[list[R], list[int]]:
    results: list[R] = []
    failed: list[int] = []
    for item_id in ids:
        try:
            result = stage.one(item_id)
        except Exception as e:
            log.warning("%s %s: %s; retried on its own", stage.what, item_id, e)
            stage.set_aside(item_id, e)
            failed.append(item_id)
            continue
        if result is not None:
            results.append(result)
    return results, failed


def run_batch(stage: BatchStage[R], ids: Sequence[int]) -> None:
    one_transaction = stage.together and stage.app.db_url.startswith("postgresql")
    results, failed = (together if one_transaction else item_by_item)(stage, ids)
    for item_id in failed:
        hops.alone(stage.alone_actor, item_id, stage.alone_delay_ms)
    stage.next_hop(results)
