"""Queue the lifecycle's mails to the complainant, and own the words every letter shares.

The organisation's name, the stage (state) labels and the severity and category labels, in
the reader's language, are defined here once for every mail, to complainants and to staff
(`workers.outbound.staff_letters` builds the staff mails). A complainant mail is threaded on
the complainant's last message, says the case number, the current stage and the next date
(templates/*/_stage.*.j2), and tells the legal clock it was sent
(`deadlines.on_complainant_notified`). It goes through `outbox.queue_reply`, whose (case,
kind, occasion) key makes a rerun find the same row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from models import Case, Message
from workers.app import App
from workers.casework.transitions import STATE_LABELS, TERMINAL_STATES, State
from workers.clock import deadlines
from workers.outbound.outbox import ReplyRequest, queue_reply
from workers.outbound.render import is_english, template_language

MAX_REFERENCES = 20


@dataclass(frozen=True)
class Promise:
    """The next date a mail names, and what happens on it, in both languages."""

    date: datetime | None
    zh: str
    en: str

    def what(self, language: str) -> str:
        return self.en if is_english(language) else self.zh


_NEXT_ANSWER = ("我们下一次答复您的最迟日期", "the latest date of our next answer to you")
_SOON = ("我们会尽快答复您", "we will answer you as soon as we can")
_ENDED = ("无，本案件已结束", "none, this case has ended")
_FINAL = ("无，复查结论为最终结论", "none, the review result is final")
SEVERITY_LABELS = {
    "general": ("一般", "general"),
    "important": ("重要", "important"),
    "major": ("重大", "major"),
}


def language_of(app: App, language: str) -> str:
    return template_language(language, app.policy.languages)


def state_label(state: str, language: str) -> str:
    """A case state as a reader sees it: 已受理（调查中） / accepted (under investigation)."""
    zh, en = STATE_LABELS[State(state)]
    return en if is_english(language) else zh


def stage_label(app: App, case: Case, language: str) -> str:
    return state_label(case.status, language_of(app, language))


def severity_label(code: str | None, language: str) -> str | None:
    """A severity code as a reader sees it: 重大 / major; an unknown code as it is."""
    labels = SEVERITY_LABELS.get(code or "")
    return (labels[1] if is_english(language) else labels[0]) if labels else code


def category_label(app: App, code: str | None, language: str) -> str | None:
    """A category as staff see it: its code and its name (`privacy 个人信息泄露`)."""
    category = next((c for c in app.policy.categories if c.code == code), None)
    if category is None:
        return code
    return f"{code} {category.name_en if is_english(language) else category.name_zh}"


def organisation(app: App, language: str) -> str:
    english = is_english(language_of(app, language))
    return app.policy.organisation_en if english else app.policy.organisation_zh


def complainant_thread(session: Session, case: Case) -> tuple[str | None, list[str]]:
    """(In-Reply-To, References) for a mail to the complainant: their last mail, and the
    conversation with them up to it."""
    rows = session.execute(
        select(col(Message.message_id), col(Message.direction))
        .where(
            col(Message.case_id) == case.id,
            col(Message.role) == "complainant",
            col(Message.message_id).is_not(None),
        )
        .order_by(col(Message.id))
    ).all()
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
    row = queue_reply(
        session,
        app,
        case,
        ReplyRequest(
            kind=kind,
            occasion=occasion,
            to_addr=case.complainant_email,
            to_name=case.complainant_name,
            language=language,
            context={
                "organisation": organisation(app, language),
                "stage": stage_label(app, case, language),
                "next_date_text": format_day(app, promise.date, language),
                "next_what": promise.what(language),
                "sla": app.policy.sla,
                **(context or {}),
            },
            in_reply_to=in_reply_to,
            references=references,
            auto_submitted=None if written_by_staff else "auto-replied",
        ),
    )
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
