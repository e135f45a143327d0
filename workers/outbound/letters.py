"""Queue the lifecycle's mails: to the complainant, and to staff members.

A complainant mail is threaded on the complainant's last message, says the case number, the
current stage and the next date (templates/*/_stage.*.j2), and tells the legal clock it was
sent (`deadlines.on_complainant_notified`). A staff mail carries the staff member's own signed
Reply-To, so that replying to it is an authenticated command mail. Both go through
`outbox.queue_reply`, whose (case, kind, occasion) key makes a rerun find the same row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from config.policy_staff import StaffMember
from models import Case, Message
from workers.clock import deadlines
from workers.app import App
from workers.outbound.outbox import ReplyRequest, queue_reply
from workers.mail.redact import staff_view
from workers.outbound.render import template_language
from workers.casework.transitions import STATE_LABELS, TERMINAL_STATES, State

MAX_REFERENCES = 20


@dataclass(frozen=True)
class Promise:
    """The next date a mail names, and what happens on it, in both languages."""

    date: datetime | None
    zh: str
    en: str

    def what(self, language: str) -> str:
        return self.en if language == "en" else self.zh


_NEXT_ANSWER = ("我们下一次答复您的最迟日期", "the latest date of our next answer to you")
_SOON = ("我们会尽快答复您", "we will answer you as soon as we can")
_ENDED = ("无，本案件已结束", "none, this case has ended")
_FINAL = ("无，复查结论为最终结论", "none, the review result is final")
SEVERITY_LABELS = {"general": ("一般", "general"), "important": ("重要", "important"),
                   "major": ("重大", "major")}


def language_of(app: App, language: str) -> str:
    return template_language(language, app.policy.languages)


def stage_label(app: App, case: Case, language: str) -> str:
    zh, en = STATE_LABELS[State(case.status)]
    return en if language_of(app, language) == "en" else zh


def organisation(app: App, language: str) -> str:
    english = language_of(app, language) == "en"
    return app.policy.organisation_en if english else app.policy.organisation_zh


def complainant_thread(session: Session, case: Case) -> tuple[str | None, list[str]]:
    """(In-Reply-To, References) for a mail to the complainant: their last mail, and the
    conversation with them up to it."""
    rows = session.execute(
        select(Message.message_id, Message.direction).where(
            Message.case_id == case.id, Message.role == "complainant",
            Message.message_id.is_not(None)).order_by(Message.id)).all()
    last_in = max((i for i, (_, d) in enumerate(rows) if d == "in"), default=None)
    if last_in is None:
        return None, []
    ids = [mid for mid, _ in rows[: last_in + 1]]
    return ids[-1], ids[-MAX_REFERENCES:]


def notify_complainant(
    session: Session,
    app: App,
    case: Case,
    kind: str,
    *,
    occasion: str,
    at: datetime,
    context: dict[str, Any] | None = None,
    promise: Promise | None = None,
    written_by_staff: bool = True,
) -> int | None:
    """Queue mail `kind` to the complainant; the outbound id, or None when a guard stopped it.

    `promise` is the next date when the caller knows it (the review window's end); otherwise
    the deadline engine's next promised date. Mail that staff caused carries no Auto-Submitted
    (a person wrote or decided it) and is never capped, so the clock hears of it first and the
    date it renders is the one still owed; automatic answers to the complainant's own mail are
    `auto-replied` (RFC 3834), and the clock hears of them only once queued.
    """
    language = language_of(app, case.language)
    if written_by_staff:
        deadlines.on_complainant_notified(session, app, case, kind, at)
        if case.first_response_at is None:
            case.first_response_at = at
            session.add(case)
    promise = promise or next_promise(session, app, case)
    in_reply_to, references = complainant_thread(session, case)
    row = queue_reply(session, app, case, ReplyRequest(
        kind=kind, occasion=occasion, to_addr=case.complainant_email,
        to_name=case.complainant_name, language=language,
        context={"organisation": organisation(app, language),
                 "stage": stage_label(app, case, language),
                 "next_date_text": format_day(app, promise.date, language),
                 "next_what": promise.what(language), "sla": app.policy.sla,
                 **(context or {})},
        in_reply_to=in_reply_to, references=references,
        auto_submitted=None if written_by_staff else "auto-replied"))
    if row is None:
        return None
    if not written_by_staff:
        deadlines.on_complainant_notified(session, app, case, kind, at)
    return row.id


def next_promise(session: Session, app: App, case: Case) -> Promise:
    """What the stage block says when the caller names no date: the clock's next promise."""
    state = State(case.status)
    if state == State.REVIEW_RESOLVED or (state == State.CLOSED and case.review_decided_at):
        return Promise(None, *_FINAL)
    if state in TERMINAL_STATES:
        return Promise(None, *_ENDED)
    date = deadlines.next_date(session, app, case)
    return Promise(date, *_NEXT_ANSWER) if date else Promise(None, *_SOON)


def format_day(app: App, moment: datetime | None, language: str) -> str:
    return app.calendar.format_date(moment, language) if moment is not None else ""


def notify_staff(
    session: Session,
    app: App,
    case: Case,
    member: StaffMember,
    kind: str,
    *,
    occasion: str,
    language: str,
    context: dict[str, Any],
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    automatic: bool = True,
) -> int | None:
    """Queue mail `kind` to a staff member, its Reply-To their signed address for the case."""
    language = language_of(app, language)
    row = queue_reply(session, app, case, ReplyRequest(
        kind=kind, occasion=f"{occasion}:{member.id}", to_addr=member.email,
        to_name=member.name, language=language,
        # The subject as this member may read it (workers.mail.redact): a caller's own wins.
        context={"organisation": organisation(app, language),
                 "stage": stage_label(app, case, language), "staff": member,
                 "case_subject": staff_view(app, case, member, language)(case.subject or ""),
                 **context},
        in_reply_to=in_reply_to, references=list(references or []),
        auto_submitted="auto-replied" if automatic else None, staff_id=member.id, role="staff"))
    return row.id if row is not None else None


def staff_summary(session: Session, app: App, case: Case, language: str) -> dict[str, Any]:
    """The case at a glance for staff mail (templates/*/_staff_case.*.j2)."""
    english = language_of(app, language) == "en"
    category = next((c for c in app.policy.categories if c.code == case.category), None)
    category_name = (category.name_en if english else category.name_zh) if category else None
    severity = SEVERITY_LABELS.get(case.severity or "")
    return {"category": category_name or case.category,
            "severity": (severity[1] if english else severity[0]) if severity else None,
            "group": case.assigned_group, "assignee": case.assignee,
            "next_date_text": format_day(app, deadlines.next_date(session, app, case),
                                         language_of(app, language)),
            "merged_into": case.merged_into, "malicious": case.malicious}
