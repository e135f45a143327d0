"""Find the case an incoming mail belongs to, or decide it opens a new one.

Tried in order (DESIGN.md): the signed token in the address we replied from, then In-Reply-To
and References against the Message-IDs of the case's mails, then the `[TS-…]` subject tag —
the tag counts only when the sender is a party of that case (its complainant or staff), so a
stranger cannot file mail on someone else's case by copying a number.

Message-IDs of incoming mail are chosen by their senders, and anyone can reuse another's: a
thread counts on our own outbound Message-IDs, and on an incoming one only when the mail that
carried it and the mail that names it both come from parties of that case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from config.policy_staff import staff_by_email
from models import Case, Message
from workers.app import App
from workers.mail.casenumbers import case_tags
from workers.mail.parse import ParsedMail
from workers.mail.tokens import read_reply_address


@dataclass(frozen=True)
class Correlation:
    case: Case
    method: str  # token | thread | subject
    staff_id: str | None = None  # the staff member a verified token names


@dataclass(frozen=True)
class CorrelationResult:
    match: Correlation | None
    notes: list[str]  # refused attempts, for the event log


def _case_by_number(session: Session, number: str) -> Case | None:
    return session.execute(select(Case).where(col(Case.number) == number)).scalar_one_or_none()


def by_token(session: Session, app: App, recipients: Iterable[str]) -> Correlation | None:
    for address in recipients:
        token = read_reply_address(address, app.settings.intake_address, app.verify_secrets)
        if token and (case := _case_by_number(session, token.case_number)):
            return Correlation(case, "token", token.staff_id)
    return None


# Rows looked at for one mail's references: a thread's mails, not a flood of reused ids.
_THREAD_ROWS = 50


def by_thread(
    session: Session, app: App, message_ids: list[str], sender: str
) -> Correlation | None:
    if not message_ids:
        return None
    stmt = (
        select(Case, col(Message.direction), col(Message.from_addr))
        .join(Message, col(Message.case_id) == Case.id)
        .where(col(Message.message_id).in_(message_ids[-50:]))
        .order_by(col(Message.id).desc())
        .limit(_THREAD_ROWS)
    )
    for case, direction, author in session.execute(stmt):
        if direction == "out" or (
            is_party(app, case, sender) and is_party(app, case, author.lower())
        ):
            return Correlation(case, "thread")
    return None


def is_party(app: App, case: Case, address: str) -> bool:
    return address == case.complainant_email.lower() or (
        staff_by_email(app.policy.staff, address) is not None
    )


def by_subject(session: Session, app: App, mail: ParsedMail) -> CorrelationResult:
    notes: list[str] = []
    for number in case_tags(mail.subject, app.policy.case_number_prefix):
        case = _case_by_number(session, number)
        if case is None:
            notes.append(f"subject tag {number} names no case")
        elif is_party(app, case, mail.from_addr):
            return CorrelationResult(Correlation(case, "subject"), notes)
        else:
            notes.append(f"subject tag {number} ignored: {mail.from_addr} is not a party")
    return CorrelationResult(None, notes)


def correlate(session: Session, app: App, mail: ParsedMail) -> CorrelationResult:
    if match := by_token(session, app, [*mail.to, *mail.cc]):
        return CorrelationResult(match, [])
    if match := by_thread(session, app, [*mail.references, *mail.in_reply_to], mail.from_addr):
        return CorrelationResult(match, [])
    return by_subject(session, app, mail)
