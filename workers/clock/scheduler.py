"""Scheduler: every minute, find the deadlines whose next action has come and enqueue each id
for the clock actor (`deadline_due`, workers.clock.stage). Nothing else.

Deadlines live in the database, never in broker delays: a lost queue or a restarted scheduler
loses nothing, the next tick finds the rows again. The query is an index range scan on
ix_deadline_due (state, next_action_at) per state, in due order, a batch at a time, however
many rows the table holds (bench/deadlines.py shows the plan). Enqueueing a row twice is
harmless: the actor does nothing when next_action_at has moved on. One scheduler acts at a
time: the holder of a Redis leader lock (none needed with the stub broker).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlmodel import Session, col

from models import Deadline, DeadlineState
from models.db import session_scope
from models.types import utcnow
from workers import hops
from workers.app import App
from workers.leader_lock import LeaderLock

log = logging.getLogger(__name__)

# States with something still to do: pending (reminders, due, expiry), missed (escalation).
ACTIVE_STATES = (DeadlineState.PENDING, DeadlineState.MISSED)
DEFAULT_BATCH = 1000


@dataclass(frozen=True)
class TickResult:
    at: datetime
    deadline_ids: list[int]


def due_query(state: str, now: datetime, limit: int) -> Select[int | None]:
    """One state's due rows in due order: equality on the index's first column, a range on
    its second, so the database reads exactly the rows it returns."""
    return (
        select(col(Deadline.id))
        .where(col(Deadline.state) == state, col(Deadline.next_action_at) <= now)
        .order_by(col(Deadline.next_action_at))
        .limit(limit)
    )


def due_deadline_ids(session: Session, now: datetime, limit: int = DEFAULT_BATCH) -> list[int]:
    ids: list[int] = []
    for state in ACTIVE_STATES:
        if len(ids) < limit:
            ids += session.execute(due_query(state, now, limit - len(ids))).scalars()
    return ids


def tick(app: App, now: datetime, batch: int = DEFAULT_BATCH) -> TickResult:
    """Enqueue one clock message per due deadline (at most `batch`)."""
    with session_scope(app.db_url) as session:
        ids = due_deadline_ids(session, now, batch)
    hops.to_clock(ids)
    if ids:
        log.info("tick %s: %d deadlines due", now.isoformat(timespec="seconds"), len(ids))
    return TickResult(now, ids)


class Scheduler:
    """Tick every `interval` seconds while holding the scheduler's leader lock."""

    def __init__(
        self,
        app: App,
        interval: float = 60.0,
        batch: int = DEFAULT_BATCH,
        lock: LeaderLock | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.app, self.interval, self.batch, self.clock = app, interval, batch, clock
        # A holder that stops renewing (killed) frees the lock after three missed ticks.
        self.lock = lock or LeaderLock(
            app.settings.broker_url, "scheduler", ttl=max(30.0, 3 * interval)
        )
        self.stop = threading.Event()

    def run_once(self) -> TickResult | None:
        """One tick if this process holds (or can take) the lock; None when another does."""
        if not (self.lock.held() or self.lock.acquire()):
            return None
        return tick(self.app, self.clock(), self.batch)

    def run(self) -> None:
        """Tick until stopped; a standby keeps trying for the lock once per interval."""
        try:
            while not self.stop.is_set():
                started = self.clock()
                try:
                    if self.run_once() is None:
                        log.info("another scheduler holds the lock; standing by")
                except Exception:
                    log.exception("tick failed; trying again next interval")
                spent = (self.clock() - started).total_seconds()
                self.stop.wait(max(0.0, self.interval - spent))
        finally:
            self.lock.release()
