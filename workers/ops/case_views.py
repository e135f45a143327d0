"""What the CLI shows: plain dicts with the public JSON fields (a contract: add, never remove)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import defer
from sqlmodel import Session, col

from models import Attachment, Case, Event, Message, OutboundEmail, RawMessage


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def case_summary(case: Case, message_count: int) -> dict[str, Any]:
    return {
        "number": case.number,
        "status": case.status,
        "complainant": case.complainant_email,
        "complainant_name": case.complainant_name,
        "subject": case.subject,
        "language": case.language,
        "category": case.category,
        "severity": case.severity,
        "assigned_group": case.assigned_group,
        "assignee": case.assignee,
        "created_at": _iso(case.created_at),
        "updated_at": _iso(case.updated_at),
        "message_count": message_count,
    }


def list_cases(session: Session, status: str | None = None) -> list[dict[str, Any]]:
    counts = (
        select(col(Message.case_id), func.count().label("n"))
        .group_by(col(Message.case_id))
        .subquery()
    )
    stmt = (
        select(Case, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.case_id == Case.id)
        .order_by(col(Case.id))
    )
    if status:
        stmt = stmt.where(col(Case.status) == status)
    return [case_summary(case, n) for case, n in session.execute(stmt).all()]


def message_view(session: Session, msg: Message) -> dict[str, Any]:
    atts = session.execute(select(Attachment).where(col(Attachment.message_id) == msg.id)).scalars()
    out: dict[str, Any] = {
        "direction": msg.direction,
        "role": msg.role,
        "message_id": msg.message_id,
        "from": msg.from_addr,
        "from_name": msg.from_name,
        "to": msg.to_addrs,
        "subject": msg.subject,
        "text": msg.body_text,
        "language": msg.language,
        "charset_notes": msg.charset_notes,
        "created_at": _iso(msg.created_at),
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
                "flagged": a.flagged,
            }
            for a in atts
        ],
    }
    if msg.outbound_id is not None:
        row = session.get(OutboundEmail, msg.outbound_id)
        if row is not None:
            out.update(
                kind=row.kind,
                delivery=row.status,
                delivery_error=row.last_error,
                sent_at=_iso(row.sent_at),
                bounced=row.bounce_reason,
            )
    return out


def case_detail(session: Session, number: str) -> dict[str, Any] | None:
    case = session.execute(select(Case).where(col(Case.number) == number)).scalar_one_or_none()
    if case is None:
        return None
    messages = list(
        session.execute(
            select(Message).where(col(Message.case_id) == case.id).order_by(col(Message.id))
        ).scalars()
    )
    events = session.execute(
        select(Event).where(col(Event.case_id) == case.id).order_by(col(Event.id))
    )
    detail = case_summary(case, len(messages))
    detail.update(
        received_at=_iso(case.received_at),
        classification=case.classification,
        messages=[message_view(session, m) for m in messages],
        events=[
            {
                "at": _iso(e.at),
                "actor": e.actor,
                "kind": e.kind,
                "from": e.from_status,
                "to": e.to_status,
                "detail": e.detail,
            }
            for e in events.scalars()
        ],
    )
    return detail


def mail_view(raw: RawMessage, case_number: str | None) -> dict[str, Any]:
    return {
        "id": raw.id,
        "message_id": raw.message_id,
        "received_at": _iso(raw.received_at),
        "mailbox": raw.mailbox,
        "uid": raw.uid,
        "size": raw.size,
        "status": raw.status,
        "disposition": raw.disposition,
        "reason": raw.reason,
        "attempts": raw.attempts,
        "case": case_number,
    }


def list_mail(session: Session, disposition: str | None = None) -> list[dict[str, Any]]:
    stmt = (
        select(RawMessage, col(Case.number))
        .outerjoin(Case, col(Case.id) == RawMessage.case_id)
        .order_by(col(RawMessage.id))
    )
    if disposition:
        stmt = stmt.where(col(RawMessage.disposition) == disposition)
    # Only the columns we show: never load every mail's bytes to list them.
    # SQLModel types the class attribute as its value (bytes); it is an InstrumentedAttribute.
    stmt = stmt.options(defer(RawMessage.raw))  # type: ignore[arg-type]
    return [mail_view(raw, number) for raw, number in session.execute(stmt).all()]
