"""Quarantine: mail we could not use is kept with its reason, shown to the operator, replayable."""

from __future__ import annotations

from sqlmodel import Session

from models import Disposition, Event, RawMessage, RawStatus
from models.types import utcnow


def quarantine_row(session: Session, raw: RawMessage, reason: str) -> None:
    raw.status = RawStatus.QUARANTINED
    raw.disposition = Disposition.QUARANTINED
    raw.reason = reason[:4000]
    raw.processed_at = utcnow()
    session.add(raw)
    session.add(Event(raw_message_id=raw.id, kind="quarantined", detail={"reason": raw.reason}))


def release_row(session: Session, raw: RawMessage, note: str, actor: str = "operator") -> None:
    """Put a quarantined mail back in line with a fresh attempt count (the caller enqueues it)."""
    raw.status = RawStatus.RECEIVED
    raw.disposition = Disposition.PENDING
    raw.attempts = 0
    raw.sweeps = 0
    raw.enqueued_at = utcnow()
    session.add(raw)
    session.add(
        Event(
            raw_message_id=raw.id,
            kind="replayed",
            actor=actor,
            detail={"note": note, "previous_reason": raw.reason},
        )
    )


def discard_row(session: Session, raw: RawMessage, note: str, actor: str = "operator") -> None:
    """Keep the bytes, but mark the mail as seen by a person and set aside for good."""
    raw.status = RawStatus.PROCESSED
    raw.disposition = Disposition.SCREENED
    raw.reason = f"discarded by {actor}: {note} (was: {raw.reason})"[:4000]
    session.add(raw)
    session.add(Event(raw_message_id=raw.id, kind="discarded", actor=actor, detail={"note": note}))
