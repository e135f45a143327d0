"""What the models learn from: (text, category) and (text, severity) of the cases staff set.

A case counts for the category model when staff set its category (`#category` / `#分类`, which
records `category_set_by`): a correction, or a confirmation when they write the code it already
had; and for the severity model when staff set its severity (`#severity`, `severity_set_by`).
Values the classifier set alone never count, so the models cannot learn their own mistakes.
The text is the one the classify stage reads (`case_text`), so training and use see the same.
Next hop: `complaintdesk classify --retrain` fits `workers.triage.model` on these pairs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Subquery, func, select
from sqlmodel import Session, col

from models import Case, Message
from models.db import session_scope
from workers.app import installed_or_from_environment


def case_text(subject: str, body: str) -> str:
    """Subject and body, as `complaintdesk classify` reads a mail."""
    return f"{subject}\n{body}"


def _first_complaints(case_ids: list[int] | None = None) -> Subquery:
    """The id of each case's first mail from the complainant (the complaint itself), of the
    cases `case_ids` when given, of every case otherwise."""
    query = select(col(Message.case_id), func.min(Message.id).label("message_id")).where(
        col(Message.direction) == "in", col(Message.role) == "complainant"
    )
    if case_ids is not None:
        query = query.where(col(Message.case_id).in_(case_ids))
    return query.group_by(col(Message.case_id)).subquery()


def complaint_message(session: Session, case_id: int) -> Message | None:
    """The complainant's first mail on the case: what the complaint says."""
    return session.execute(
        select(Message)
        .where(
            col(Message.case_id) == case_id,
            col(Message.direction) == "in",
            col(Message.role) == "complainant",
        )
        .order_by(col(Message.id))
        .limit(1)
    ).scalar_one_or_none()


def complaint_messages(session: Session, case_ids: list[int]) -> dict[int, Message]:
    """`complaint_message` of each of the cases, in one query (a case without one is left out)."""
    if not case_ids:
        return {}
    first = _first_complaints(case_ids)
    rows = session.execute(select(Message).join(first, first.c.message_id == Message.id)).scalars()
    return {message.case_id: message for message in rows if message.case_id is not None}


def _examples(session: Session, value: Any, set_by: Any) -> list[tuple[str, str]]:
    """(text, value) of the cases where staff set the column `value` (recorded in `set_by`)."""
    first = _first_complaints()
    rows = session.execute(
        select(col(Case.subject), col(Message.body_text), value)
        .join(first, first.c.case_id == Case.id)
        .join(Message, col(Message.id) == first.c.message_id)
        .where(set_by.is_not(None), value.is_not(None))
        .order_by(col(Case.id))
    ).all()
    return [(case_text(subject, body), label) for subject, body, label in rows]


def confirmed_examples(session: Session) -> list[tuple[str, str]]:
    return _examples(session, Case.category, Case.category_set_by)


def confirmed_severity_examples(session: Session) -> list[tuple[str, str]]:
    return _examples(session, Case.severity, Case.severity_set_by)


def load_confirmed_examples(db_url: str | None = None) -> list[tuple[str, str]]:
    """Every staff-categorised case in the database (the process's App by default)."""
    with session_scope(db_url or installed_or_from_environment().db_url) as session:
        return confirmed_examples(session)


def load_confirmed_severity_examples(db_url: str | None = None) -> list[tuple[str, str]]:
    """Every case whose severity staff set, in the database (the process's App by default)."""
    with session_scope(db_url or installed_or_from_environment().db_url) as session:
        return confirmed_severity_examples(session)
