"""Sweeper: re-enqueue rows that were committed but never finished.

A broker that loses its queue (restart, FLUSHALL) or a process killed between commit and
enqueue loses no mail: every `sweep_interval` seconds, raw messages still `received`, outbox
rows still `queued` and cases never routed whose last enqueue is older than `sweep_grace` are
enqueued again. The actors are idempotent, so an extra enqueue costs a status check, never a
duplicate.

Each row counts its sweeps, and waits twice as long before each next one (a backlog is not
flooded with copies of its own messages). A row swept `limits.max_sweeps` times that still
never finished is given up, visibly: a mail is quarantined with the reason, a reply marked
failed, a case left unrouted with a `routing_given_up` event — never re-sent every 30 s for
ever. The count goes up only once the enqueue went through (a broker that is down costs none).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import dramatiq
from sqlalchemy import or_, select, update
from sqlmodel import Session, col

from models import Case, Event, OutboundEmail, OutboxStatus, RawMessage, RawStatus
from models.db import session_scope
from models.types import utcnow
from workers import hops
from workers.app import App, current_app
from workers.intake.quarantine import quarantine_row
from workers.triage.route_case import unrouted_case_ids

log = logging.getLogger(__name__)

_MAX_DOUBLINGS = 16  # the wait stops growing at grace x 65536 (45 days at 60 s)


@dataclass(frozen=True)
class SweepResult:
    raw_ids: list[int]
    outbound_ids: list[int]
    case_ids: list[int] = field(default_factory=list)  # cases never routed
    given_up: list[str] = field(default_factory=list)  # "raw_message 12", …


def due_again(sweeps: int, last: datetime | None, now: datetime, grace: float) -> bool:
    """Whether a row swept `sweeps` times, last enqueued at `last`, is due again: after the
    grace, then after twice as long each time."""
    if last is None:
        return True
    return last < now - timedelta(seconds=grace * 2 ** min(sweeps, _MAX_DOUBLINGS))


@dataclass
class _Found:
    due: list[int] = field(default_factory=list)
    spent: list[tuple[int, int]] = field(default_factory=list)  # (id, sweeps) to give up


def _stale(
    session: Session, table: Any, status: str, grace: float, limit: int, most: int
) -> _Found:
    now = utcnow()
    cutoff = now - timedelta(seconds=grace)
    found = _Found()
    for row_id, sweeps, last in session.execute(
        select(table.id, table.sweeps, table.enqueued_at)
        .where(table.status == status, or_(table.enqueued_at.is_(None), table.enqueued_at < cutoff))
        .order_by(table.id)
        .limit(limit)
    ):
        if not due_again(sweeps, last, now, grace):
            continue
        if sweeps >= most:
            found.spent.append((row_id, sweeps))
        else:
            found.due.append(row_id)
    return found


def _unrouted(session: Session, grace: float, limit: int, most: int) -> _Found:
    now = utcnow()
    ids = unrouted_case_ids(session, now - timedelta(seconds=grace), limit)
    found = _Found()
    if not ids:
        return found
    for case_id, sweeps, last in session.execute(
        select(col(Case.id), col(Case.sweeps), col(Case.swept_at)).where(col(Case.id).in_(ids))
    ):
        if sweeps > most or not due_again(sweeps, last, now, grace):
            continue  # given up already (sweeps past the most), or not due yet
        if sweeps == most:
            found.spent.append((case_id, sweeps))
        else:
            found.due.append(case_id)
    found.due.sort()
    return found


def _why(sweeps: int, what: str) -> str:
    return f"enqueued again {sweeps} times by the sweeper and {what} never finished"


def _give_up(session: Session, raws: _Found, replies: _Found, cases: _Found) -> list[str]:
    given_up = []
    for raw_id, sweeps in raws.spent:
        raw = session.get(RawMessage, raw_id, with_for_update=True)
        if raw is not None and raw.status == RawStatus.RECEIVED:
            last = f"; last error: {raw.reason}" if raw.reason else ""
            quarantine_row(session, raw, _why(sweeps, "its ingest") + last)
            given_up.append(f"raw_message {raw_id}")
    for outbound_id, sweeps in replies.spent:
        row = session.get(OutboundEmail, outbound_id, with_for_update=True)
        if row is not None and row.status == OutboxStatus.QUEUED:
            row.status = OutboxStatus.FAILED
            row.last_error = _why(sweeps, "its sending") + f"; last error: {row.last_error}"
            session.add(row)
            given_up.append(f"outbound_email {outbound_id}")
    for case_id, sweeps in cases.spent:
        session.execute(update(Case).where(col(Case.id) == case_id).values(sweeps=sweeps + 1))
        why = _why(sweeps, "its classification and routing")
        session.add(Event(case_id=case_id, kind="routing_given_up", detail={"reason": why}))
        given_up.append(f"case {case_id}")
    return given_up


def _count(
    app: App, raw_ids: Sequence[int], outbound_ids: Sequence[int], case_ids: Sequence[int]
) -> None:
    """After the enqueues went through: one more sweep on each row, from now."""
    now = utcnow()
    with session_scope(app.db_url) as session:
        for table, ids in ((RawMessage, raw_ids), (OutboundEmail, outbound_ids)):
            if ids:
                session.execute(
                    update(table)
                    .where(col(table.id).in_(ids))
                    .values(sweeps=table.sweeps + 1, enqueued_at=now)
                    .execution_options(synchronize_session=False)
                )
        if case_ids:
            session.execute(
                update(Case)
                .where(col(Case.id).in_(case_ids))
                .values(sweeps=Case.sweeps + 1, swept_at=now)
                .execution_options(synchronize_session=False)
            )


def sweep(app: App, grace: float | None = None, limit: int = 5000) -> SweepResult:
    grace = app.settings.sweep_grace if grace is None else grace
    most = app.policy.limits.max_sweeps
    with session_scope(app.db_url) as session:
        raws = _stale(session, RawMessage, RawStatus.RECEIVED, grace, limit, most)
        replies = _stale(session, OutboundEmail, OutboxStatus.QUEUED, grace, limit, most)
        # Classification and routing write no row of their own before they run: a case
        # whose enqueue was lost shows as one with no routing decision after the grace.
        cases = _unrouted(session, grace, limit, most)
        given_up = _give_up(session, raws, replies, cases)
    result = SweepResult(raws.due, replies.due, cases.due, given_up)
    batch = app.settings.ingest_batch
    hops.to_ingest(result.raw_ids, batch)
    hops.to_sender(result.outbound_ids, batch)
    hops.to_classify(result.case_ids, batch)
    _count(app, result.raw_ids, result.outbound_ids, result.case_ids)
    if result.raw_ids or result.outbound_ids:
        log.info(
            "sweeper re-enqueued %d mails and %d replies",
            len(result.raw_ids),
            len(result.outbound_ids),
        )
    if result.case_ids:
        log.info("sweeper re-enqueued %d cases never routed", len(result.case_ids))
    if given_up:
        log.error("sweeper gave up on %s", ", ".join(given_up))
    return result


def _sweep_lock(broker: dramatiq.Broker, interval: float) -> bool:
    """Only one worker process sweeps per interval (a Redis key with a TTL)."""
    client = getattr(broker, "client", None)
    if client is None:
        return True
    return bool(client.set("complaintdesk:sweeper", "1", nx=True, px=int(interval * 1000)))


class Sweeper(dramatiq.Middleware):
    """Runs `sweep` on a thread inside each worker process."""

    def __init__(self) -> None:
        self._stop = threading.Event()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        threading.Thread(target=self._loop, args=(broker,), name="sweeper", daemon=True).start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.set()

    def _loop(self, broker: dramatiq.Broker) -> None:
        app = current_app()
        interval = app.settings.sweep_interval
        while not self._stop.wait(interval):
            try:
                if _sweep_lock(broker, interval * 0.9):
                    sweep(app)
            except Exception:
                log.exception("sweep failed; trying again next interval")
