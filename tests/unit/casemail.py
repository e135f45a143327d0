"""Helpers for lifecycle tests: mail as clients send it, fed through ingest, and what came out.

A test opens a case with a real complaint mail, replies as staff (to the signed staff address,
as a reply to a notification would) or as the complainant, and reads the outbox rows as the
recipients would see them.
"""

from __future__ import annotations

from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import select

from models import Case, Event, OutboundEmail, RawMessage
from models.db import session_scope
from workers.app import App
from workers.intake.ingest import IngestOutcome, ingest
from workers.intake.raw_store import store_raw
from workers.mail.tokens import reply_address

COMPLAINANT = "wang@example.net"


def build_mail(
    frm: str,
    to: str,
    subject: str,
    body: str,
    *,
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain=frm.rpartition("@")[2].strip(">") or "example.net")
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
        msg["References"] = f"<{in_reply_to}>"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def feed(app: App, raw: bytes, at: datetime | None = None) -> IngestOutcome:
    """Store the mail as the poller would (arriving `at`, default now) and ingest it."""
    with session_scope(app.db_url) as s:
        row = store_raw(s, raw, "test")
        assert row is not None
        if at is not None:
            row.received_at = at
        raw_id = int(row.id)
    return ingest(app, raw_id)


def open_complaint(
    app: App,
    body: str = "我在贵平台购买的手机屏幕有坏点，商家拒绝退货，请处理。",
    subject: str = "手机屏幕坏点商家拒绝退货",
    frm: str = f"王先生 <{COMPLAINANT}>",
    at: datetime | None = None,
) -> str:
    outcome = feed(app, build_mail(frm, app.settings.intake_address, subject, body), at)
    assert outcome.new_case
    return case_of(app, outcome.case_id).number


def staff_reply(
    app: App,
    number: str,
    body: str,
    *,
    staff: str = "zhao",
    to: str | None = None,
    frm: str | None = None,
    subject: str | None = None,
    headers: dict[str, str] | None = None,
    at: datetime | None = None,
) -> IngestOutcome:
    """A staff member's reply to a notification: to their signed address for the case."""
    member = next(s for s in app.policy.staff if s.id == staff)
    to = to or reply_address(app.settings.intake_address, app.secret, number, staff)
    raw = build_mail(
        frm or f"{member.name} <{member.email}>",
        to,
        subject or f"Re: [{number}] 新投诉",
        body,
        headers=headers,
    )
    return feed(app, raw, at)


def complainant_reply(
    app: App, number: str, body: str, *, at: datetime | None = None, subject: str | None = None
) -> IngestOutcome:
    """The complainant answers our last mail to them (its Reply-To, threaded on it)."""
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        last = s.execute(
            select(OutboundEmail)
            .where(
                OutboundEmail.case_id == case.id, OutboundEmail.to_addr == case.complainant_email
            )
            .order_by(OutboundEmail.id.desc())
            .limit(1)
        ).scalar_one()
        sent = message_from_bytes(last.raw, policy=policy.default)
    raw = build_mail(
        f"王先生 <{COMPLAINANT}>",
        sent["Reply-To"],
        subject or f"Re: {sent['Subject']}",
        body,
        in_reply_to=last.message_id,
    )
    return feed(app, raw, at)


def case_of(app: App, case_id: int | None = None, number: str | None = None) -> Case:
    with session_scope(app.db_url) as s:
        if number is not None:
            return s.execute(select(Case).where(Case.number == number)).scalar_one()
        case = s.get(Case, case_id)
        assert case is not None
        return case


def sent_mails(app: App, ids: list[int]) -> list[EmailMessage]:
    with session_scope(app.db_url) as s:
        rows = [s.get(OutboundEmail, i) for i in ids]
        return [message_from_bytes(r.raw, policy=policy.default) for r in rows if r is not None]


def mails_to(app: App, address: str, number: str | None = None) -> list[EmailMessage]:
    """Every mail queued to `address` (on the case `number`), oldest first."""
    with session_scope(app.db_url) as s:
        stmt = select(OutboundEmail).where(OutboundEmail.to_addr == address.lower())
        if number is not None:
            case = s.execute(select(Case).where(Case.number == number)).scalar_one()
            stmt = stmt.where(OutboundEmail.case_id == case.id)
        rows = s.execute(stmt.order_by(OutboundEmail.id)).scalars()
        return [message_from_bytes(r.raw, policy=policy.default) for r in rows]


def text_of(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


def events(app: App, number: str, kind: str | None = None) -> list[Event]:
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        stmt = select(Event).where(Event.case_id == case.id)
        if kind is not None:
            stmt = stmt.where(Event.kind == kind)
        return list(s.execute(stmt.order_by(Event.id)).scalars())


def set_case(app: App, number: str, **values: object) -> None:
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        for name, value in values.items():
            setattr(case, name, value)


def raw_count(app: App) -> int:
    with session_scope(app.db_url) as s:
        return len(list(s.execute(select(RawMessage.id)).scalars()))
