"""The extension request still waiting for the complainant's answer.

Shared by `workers.casework.complainant_mail` (their "同意"/"不同意" by mail) and
`workers.casework.staff_actions` (`#consent`, their answer taken by phone), so neither imports
the other.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from models import Case, Event
from workers.casework.transitions import State

# An extension request waits for an answer only while a decision is still owed.
_EXTENDABLE = frozenset({State.RECEIVED, State.ACCEPTED})
_EXTENSION_EVENTS = ("extension_requested", "extension_answered", "extension_granted")


def pending_extension(session: Session, case: Case) -> Event | None:
    """The extension request still waiting for the complainant's answer, if any."""
    if State(case.status) not in _EXTENDABLE:
        return None
    last = session.execute(
        select(Event)
        .where(col(Event.case_id) == case.id, col(Event.kind).in_(_EXTENSION_EVENTS))
        .order_by(col(Event.id).desc())
        .limit(1)
    ).scalar_one_or_none()
    return last if last is not None and last.kind == "extension_requested" else None
