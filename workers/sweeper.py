"""Sweeper: re-enqueue rows that were committed but never finished.

A broker that loses its queue (restart, FLUSHALL) or a process killed between commit and
enqueue loses no mail: every `sweep_interval` seconds, raw messages still `received` and outbox
rows still `queued` whose last enqueue is older than `sweep_grace` are enqueued again. The
actors are idempotent, so an extra enqueue costs a status check, never a duplicate.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import dramatiq
from sqlalchemy import or_, select, update
from sqlmodel import Session

from models import OutboundEmail, OutboxStatus, RawMessage, RawStatus
from models.db import session_scope
from models.types import utcnow
from workers import hops
from workers.app import App, current_app
from workers.triage.route_case import unrouted_case_ids

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepResult:
    raw_ids: list[int]
    outbound_ids: list[int]
    case_ids: list[int] = field(default_factory=list)  # cases never routed


def _stale(session: Session, table: Any, status: str, grace: float, limit: int) -> list[int]:
    cutoff = utcnow() - timedelta(seconds=grace)
    ids = list(
        session.execute(
            select(table.id)
            .where(
                table.status == status, or_(table.enqueued_at.is_(None), table.enqueued_at < cutoff)
            )
            .order_by(table.id)
            .limit(limit)
        ).scalars()
    )
    if ids:
        session.execute(update(table).where(table.id.in_(ids)).values(enqueued_at=utcnow()))
    return ids


def sweep(app: App, grace: float | None = None, limit: int = 5000) -> SweepResult:
    grace = app.settings.sweep_grace if grace is None else grace
    with session_scope(app.db_url) as session:
        result = SweepResult(
            _stale(session, RawMessage, RawStatus.RECEIVED, grace, limit),
            _stale(session, OutboundEmail, OutboxStatus.QUEUED, grace, limit),
            # Classification and routing write no row of their own before they run: a case
            # whose enqueue was lost shows as one with no routing decision after the grace.
            unrouted_case_ids(session, utcnow() - timedelta(seconds=grace), limit),
        )
    batch = app.settings.ingest_batch
    hops.to_ingest(result.raw_ids, batch)
    hops.to_sender(result.outbound_ids, batch)
    hops.to_classify(result.case_ids, batch)
    if result.raw_ids or result.outbound_ids:
        log.info(
            "sweeper re-enqueued %d mails and %d replies",
            len(result.raw_ids),
            len(result.outbound_ids),
        )
    if result.case_ids:
        log.info("sweeper re-enqueued %d cases never routed", len(result.case_ids))
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
