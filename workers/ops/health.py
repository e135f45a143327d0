"""Health: what an operator (or a monitor) needs to know to see that mail is flowing.

Each check is a number with a limit; `complaintdesk health` exits non-zero when one is over.
The same numbers are exported as Prometheus gauges by `collect_gauges`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from models import MailboxCursor, OutboundEmail, OutboxStatus, RawMessage, RawStatus
from models.types import utcnow


@dataclass(frozen=True)
class Check:
    name: str
    value: float | None
    limit: float | None
    unit: str
    ok: bool
    note: str = ""


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())


def _check(name: str, value: float | None, limit: float | None, unit: str, note: str = "") -> Check:
    ok = value is None or limit is None or value <= limit
    return Check(name, value, limit, unit, ok, note)


def measure(
    session: Session,
    now: datetime | None = None,
    *,
    max_pending_age: float = 600,
    max_outbox_age: float = 900,
    max_poller_silence: float = 900,
    max_quarantined: int = 0,
    expect_poller: bool = True,
) -> list[Check]:
    now = now or utcnow()
    oldest_raw = session.execute(
        select(func.min(RawMessage.received_at)).where(col(RawMessage.status) == RawStatus.RECEIVED)
    ).scalar()
    pending = session.execute(
        select(func.count())
        .select_from(RawMessage)
        .where(col(RawMessage.status) == RawStatus.RECEIVED)
    ).scalar_one()
    outbox = session.execute(
        select(func.count(), func.min(OutboundEmail.created_at)).where(
            col(OutboundEmail.status) == OutboxStatus.QUEUED
        )
    ).one()
    failed = session.execute(
        select(func.count())
        .select_from(OutboundEmail)
        .where(col(OutboundEmail.status) == OutboxStatus.FAILED)
    ).scalar_one()
    quarantined = session.execute(
        select(func.count())
        .select_from(RawMessage)
        .where(col(RawMessage.status) == RawStatus.QUARANTINED)
    ).scalar_one()
    contact = session.execute(select(func.max(MailboxCursor.last_contact_at))).scalar()
    silence = _age(now, contact)
    return [
        _check(
            "oldest_unprocessed_mail_age",
            _age(now, oldest_raw),
            max_pending_age,
            "s",
            f"{pending} mails waiting",
        ),
        _check("outbox_backlog", float(outbox[0]), None, "mails"),
        _check("oldest_outbox_age", _age(now, outbox[1]), max_outbox_age, "s"),
        _check("outbound_failed", float(failed), None, "mails", "5xx: see mail list"),
        _check(
            "quarantined",
            float(quarantined),
            float(max_quarantined),
            "mails",
            "complaintdesk quarantine list",
        ),
        Check(
            "poller_last_contact_age",
            silence,
            max_poller_silence,
            "s",
            ok=(silence is not None and silence <= max_poller_silence)
            or (silence is None and not expect_poller),
            note="never" if silence is None else "",
        ),
    ]


def as_json(checks: list[Check]) -> dict[str, Any]:
    return {
        "ok": all(c.ok for c in checks),
        "checks": {
            c.name: {"value": c.value, "limit": c.limit, "unit": c.unit, "ok": c.ok, "note": c.note}
            for c in checks
        },
    }
