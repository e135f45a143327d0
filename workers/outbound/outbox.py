"""Queue a reply: render it, compose it, and write it as an outbound_email row.

The row is the promise to send; the sender actor keeps it. A (case, kind, occasion) key makes a
retried stage find its earlier row instead of mailing twice, and automatic mail to one address is
capped per hour so that two auto-responders cannot loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlmodel import Session, col

from config.policy_staff import staff_by_email
from models import Case, Event, Message, OutboundEmail
from models.db import insert_as_loaded, table_of
from models.types import utcnow
from workers.app import App
from workers.mail.casenumbers import tagged_subject
from workers.mail.compose import OutgoingMail, checked_address, compose, new_message_id
from workers.mail.subject_guard import defang
from workers.mail.tokens import reply_address
from workers.outbound.render import TRADITIONAL_CHINESE, render_reply, template_language
from workers.outbound.repeat_guard import subject_key


@dataclass(frozen=True)
class ReplyRequest:
    kind: str  # template name, e.g. "acknowledgement"
    occasion: str  # what makes this mail unique on the case, e.g. the Message-ID it answers
    to_addr: str
    to_name: str
    language: str
    context: dict[str, Any]
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    auto_submitted: str | None = "auto-replied"
    staff_id: str | None = None  # the Reply-To token then names this staff member
    role: str = "complainant"  # who receives it, for the case history
    # The mail this answers names or quotes one of ours, or is worded as an automatic answer
    # (workers.intake.screen.answers_our_mail): an automatic reply to it, when the address had
    # one from us in the last day already, would feed an auto-responder loop.
    answers_our_mail: bool = False


# Built once: a query's construction costs more CPU than its compiled-cache lookup.
_EXISTING_ID = select(col(OutboundEmail.id)).where(
    col(OutboundEmail.dedupe_key) == bindparam("key")
)
_AUTOMATIC_SINCE = (
    select(func.count())
    .select_from(OutboundEmail)
    .where(
        col(OutboundEmail.to_addr) == bindparam("to"),
        col(OutboundEmail.automatic).is_(True),
        col(OutboundEmail.created_at) >= bindparam("since"),
    )
)
# Whether any automatic mail went to the address since a time (the loop breaker's first look).
_AUTOMATIC_ANY_SINCE = (
    select(col(OutboundEmail.id))
    .where(
        col(OutboundEmail.to_addr) == bindparam("to"),
        col(OutboundEmail.automatic).is_(True),
        col(OutboundEmail.created_at) >= bindparam("day"),
    )
    .limit(1)
)
# All in one round trip, for the replies the caps apply to.
_EXISTING_ID_AND_AUTOMATIC_SINCE = select(
    _EXISTING_ID.scalar_subquery(),
    _AUTOMATIC_SINCE.scalar_subquery(),
    _AUTOMATIC_ANY_SINCE.exists(),
)
# Subjects of the automatic mails to one address since a time, newest first (the loop breaker).
_AUTOMATIC_SUBJECTS_SINCE = (
    select(col(OutboundEmail.subject))
    .where(
        col(OutboundEmail.to_addr) == bindparam("to"),
        col(OutboundEmail.automatic).is_(True),
        col(OutboundEmail.created_at) >= bindparam("since"),
    )
    .order_by(col(OutboundEmail.id).desc())
    .limit(200)
)
# A transaction-scoped advisory lock per recipient address (PostgreSQL 11+).
_LOCK_SENDER = select(func.pg_advisory_xact_lock(func.hashtextextended(bindparam("to"), 0)))
# Rows nobody reads back in the transaction that writes them: plain Core inserts.
_INSERT_MESSAGE = insert(table_of(Message))
_INSERT_EVENT = insert(table_of(Event))


def writable_address(address: str) -> bool:
    """An address compose accepts, within RFC 5321's 254 characters of a forward path."""
    try:
        checked_address(address)
    except ValueError:
        return False
    return len(address) <= 254


def queue_reply(session: Session, app: App, case: Case, req: ReplyRequest) -> OutboundEmail | None:
    """The outbox row for this reply (existing or new), or None when a guard suppressed it."""
    key = f"{case.number}:{req.kind}:{req.occasion}"[:255]
    to_addr = req.to_addr.lower()
    automatic = req.auto_submitted is not None
    # The cap stops loops with outside auto-responders; our own staff are not one, and a
    # reminder or a new-case notice to them must never be dropped.
    capped = automatic and staff_by_email(app.policy.staff, to_addr) is None
    existing_id, recent, today = None, 0, False
    if capped:
        lock_sender_budget(session, to_addr)
        now = utcnow()
        existing_id, recent, today = session.execute(
            _EXISTING_ID_AND_AUTOMATIC_SINCE,
            {
                "key": key,
                "to": to_addr,
                "since": now - timedelta(hours=1),
                "day": now - timedelta(days=1),
            },
        ).one()
    # Uncapped mail (to staff, from staff) asks nothing first: its INSERT skips a key that is
    # there already, and only then is the existing row read (a rerun).
    if existing_id is not None:
        return session.get(OutboundEmail, existing_id)
    if not writable_address(to_addr):
        # A valid but odd address ("a b"@example.net, user@[192.0.2.7]) that compose refuses:
        # the case stands, staff answer by hand; raising would fail the whole ingest.
        session.add(
            Event(
                case_id=case.id,
                kind="reply_suppressed",
                detail={
                    "kind": req.kind,
                    "to": to_addr,
                    "reason": "not an address we can write to",
                },
            )
        )
        return None
    cap = app.policy.limits.max_auto_replies_per_sender_per_hour
    if capped and recent >= cap:
        session.add(
            Event(
                case_id=case.id,
                kind="auto_reply_suppressed",
                detail={
                    "kind": req.kind,
                    "to": to_addr,
                    "reason": f"more than {cap} automatic mails to this address in an hour",
                },
            )
        )
        return None
    language = template_language(req.language, app.policy.languages)
    traditional = (
        req.role == "complainant" and case.language in TRADITIONAL_CHINESE and language == "zh-CN"
    )
    context = {**req.context, "case": case_context(case)}
    # The complainant's address is whatever a sender wrote in From: their subject lines never
    # repeat the sender's links and numbers. Staff read the subject as written (or redacted).
    safe_subject = subject_context(context) if req.role == "complainant" else None
    rendered = render_reply(req.kind, language, context, traditional, safe_subject)
    subject = tagged_subject(case.number, rendered.subject, app.policy.case_number_prefix)
    if today and req.answers_our_mail:
        why: str | None = "it answers our mail, and this address had an automatic mail today"
    elif today:
        why = repeated_today(session, app, to_addr, subject)
    else:
        why = None
    if why is not None:
        session.add(
            Event(
                case_id=case.id,
                kind="auto_reply_suppressed",
                detail={"kind": req.kind, "to": to_addr, "reason": why},
            )
        )
        return None
    message_id = new_message_id(app.settings.intake_address.partition("@")[2])
    raw = compose(
        OutgoingMail(
            from_addr=app.settings.intake_address,
            from_name=app.settings.intake_name,
            to_addr=to_addr,
            to_name=req.to_name,
            subject=subject,
            text=rendered.text,
            html=rendered.html,
            message_id=message_id,
            reply_to=reply_address(
                app.settings.intake_address, app.secret, case.number, req.staff_id
            ),
            case_number=case.number,
            in_reply_to=req.in_reply_to,
            references=req.references,
            auto_submitted=req.auto_submitted,
        )
    )
    # Callers read the row back (id, status): an object, written by one Core INSERT rather
    # than the unit of work; attached as if loaded, so a rerun's session.get finds it.
    row = insert_as_loaded(
        session,
        OutboundEmail(
            dedupe_key=key,
            case_id=case.id,
            kind=req.kind,
            automatic=automatic,
            to_addr=to_addr,
            subject=subject,
            message_id=message_id,
            raw=raw,
            enqueued_at=utcnow(),
        ),
        skip_existing=not capped,
    )
    if row is None:  # uncapped, and queued already by an earlier run of this stage
        return session.get(OutboundEmail, session.execute(_EXISTING_ID, {"key": key}).scalar())
    # Every column a Message and an Event object would have written, defaults included.
    now = utcnow()
    session.execute(
        _INSERT_MESSAGE,
        {
            "case_id": case.id,
            "direction": "out",
            "role": req.role,
            "raw_message_id": None,
            "outbound_id": row.id,
            "message_id": message_id,
            "from_addr": app.settings.intake_address,
            "from_name": "",
            "to_addrs": [to_addr],
            "subject": subject,
            "body_text": rendered.text,
            "language": language,
            "charset_notes": [],
            "sent_at": None,
            "created_at": now,
        },
    )
    session.execute(
        _INSERT_EVENT,
        {
            "case_id": case.id,
            "raw_message_id": None,
            "at": now,
            "actor": "system",
            "kind": "mail_queued",
            "from_status": None,
            "to_status": None,
            "detail": {"kind": req.kind, "to": to_addr, "outbound_id": row.id},
        },
    )
    return row


def repeated_today(session: Session, app: App, to_addr: str, subject: str) -> str | None:
    """Why this automatic mail would repeat the day's automatic mail to this address under
    the same subject (workers.outbound.repeat_guard), or None. Under lock_sender_budget."""
    limit = app.policy.limits.max_auto_replies_per_sender_per_subject_per_day
    prefix = app.policy.case_number_prefix
    key = subject_key(subject, prefix)
    earlier = session.execute(
        _AUTOMATIC_SUBJECTS_SINCE, {"to": to_addr, "since": utcnow() - timedelta(days=1)}
    ).scalars()
    if sum(subject_key(one, prefix) == key for one in earlier) < limit:
        return None
    return f"an automatic mail with this subject went to this address in the last day ({limit})"


def lock_senders(session: Session, addresses: list[str]) -> None:
    """lock_sender_budget for every address a transaction will write to, taken up front in
    one sorted order: two transactions that lock several addresses each then never wait for
    each other in a cycle (the later per-reply lock is re-entrant, PostgreSQL docs s13.3.5)."""
    if session.get_bind().dialect.name == "postgresql":
        for address in sorted({a.lower() for a in addresses if a}):
            session.execute(_LOCK_SENDER, {"to": address})


def lock_sender_budget(session: Session, to_addr: str) -> None:
    """Serialise the per-sender count on PostgreSQL until this transaction ends.

    Without it, batches in parallel workers each count the same committed rows and each add
    up to the cap: a storm of mails from one auto-responder would get threads x cap replies.
    SQLite has one writer at a time, so the count there is already exact.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK_SENDER, {"to": to_addr})


# Context values that carry a sender's words into subject templates.
_SENDER_WORDS = ("original_subject", "case_subject")


def subject_context(context: dict[str, Any]) -> dict[str, Any]:
    """The context the subject lines of complainant mail render from: the sender's subject with
    its links, addresses and phone-like numbers replaced by "…" (workers.mail.subject_guard),
    so that the desk never relays them, from its official address, to whoever a forged From
    names."""
    safe: dict[str, Any] = {key: defang(context[key]) for key in _SENDER_WORDS if key in context}
    case = context.get("case")
    if isinstance(case, dict):
        safe["case"] = {**case, "subject": defang(case.get("subject"))}
    return {**context, **safe}


def case_context(case: Case) -> dict[str, Any]:
    return {
        "number": case.number,
        "status": case.status,
        "subject": case.subject,
        "complainant_name": case.complainant_name,
        "category": case.category,
        "severity": case.severity,
    }
