"""The durable rows. Every box of the pipeline that must survive a crash is one of these.

raw_message   the bytes exactly as fetched, before any decision (the poller's only write)
case / message / attachment / event   what ingest and the lifecycle make of them
outbound_email   the outbox: a reply is a row first, then an SMTP transaction
deadline         the legal clock: one row per running time limit of a case
mailbox_cursor   where the poller is in each IMAP mailbox (UIDVALIDITY, last UID)
case_counter     the per-year sequence behind case numbers
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.states import CaseState, DeadlineState, Disposition, OutboxStatus, RawStatus
from models.types import UTCDateTime, utcnow


def _ts(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kw)


def _opt_ts(**kw: Any) -> Any:
    return Field(default=None, sa_type=UTCDateTime, **kw)


class RawMessage(SQLModel, table=True):
    __tablename__ = "raw_message"
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_raw_message_imap_uid"),
        Index("ix_raw_message_pending", "status", "enqueued_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str = Field(max_length=255)
    uidvalidity: int | None = None
    uid: int | None = None
    # Message-ID as sent (None when the mail has none); not unique: a reused Message-ID on a
    # different mail must not be merged silently.
    message_id: str | None = Field(default=None, max_length=998, index=True)
    # What makes two fetches "the same mail": Message-ID plus a digest of who/when/what, or
    # the sha256 of the bytes when there is no Message-ID (workers/mail/identity.py).
    identity: str = Field(max_length=128, unique=True)
    sha256: str = Field(max_length=64)
    size: int
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    received_at: datetime = _ts()
    # received -> processed | quarantined
    status: str = Field(default=RawStatus.RECEIVED, max_length=16)
    # pending | case | follow_up | screened | quarantined  (mail list --json contract)
    disposition: str = Field(default=Disposition.PENDING, max_length=16)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    attempts: int = 0
    # Times the sweeper enqueued it again (workers/sweeper.py): it backs off, and gives up.
    sweeps: int = 0
    enqueued_at: datetime | None = _opt_ts()
    processed_at: datetime | None = _opt_ts()
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)


class MailboxCursor(SQLModel, table=True):
    __tablename__ = "mailbox_cursor"

    mailbox: str = Field(primary_key=True, max_length=255)
    uidvalidity: int | None = None
    last_uid: int = 0
    last_contact_at: datetime | None = _opt_ts()
    resyncs: int = 0


class CaseCounter(SQLModel, table=True):
    __tablename__ = "case_counter"

    year: int = Field(primary_key=True)
    last: int = 0


class Case(SQLModel, table=True):
    __tablename__ = "case"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=32, unique=True)
    status: str = Field(default=CaseState.RECEIVED, max_length=32, index=True)
    subject: str = Field(default="", sa_column=Column(Text, nullable=False))
    complainant_email: str = Field(max_length=320, index=True)
    complainant_name: str = Field(default="", max_length=255)
    language: str = Field(default="zh-CN", max_length=8)
    category: str | None = Field(default=None, max_length=32)
    severity: str | None = Field(default=None, max_length=16)
    category_set_by: str | None = Field(default=None, max_length=64)  # staff id when staff set it
    severity_set_by: str | None = Field(default=None, max_length=64)
    classification: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    assigned_group: str | None = Field(default=None, max_length=64)
    assignee: str | None = Field(default=None, max_length=64, index=True)
    malicious: bool = False
    merged_into: str | None = Field(default=None, max_length=32)
    received_at: datetime = _ts()
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    result_sent_at: datetime | None = _opt_ts()
    review_requested_at: datetime | None = _opt_ts()
    review_decided_at: datetime | None = _opt_ts()  # set once: the review result is final
    closed_at: datetime | None = _opt_ts()
    # The first reply of any kind to the complainant after receipt (the 24 h feedback).
    first_response_at: datetime | None = _opt_ts()
    satisfaction: int | None = None  # 1-5 from the call-back or the complainant's reply
    # Times the sweeper sent it to classification again, never routed, and the last time.
    sweeps: int = 0
    swept_at: datetime | None = _opt_ts()


class Message(SQLModel, table=True):
    __tablename__ = "message"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    direction: str = Field(max_length=4)  # in | out
    role: str = Field(max_length=16)  # complainant | staff | system | other
    raw_message_id: int | None = Field(default=None, foreign_key="raw_message.id")
    outbound_id: int | None = Field(default=None, foreign_key="outbound_email.id")
    message_id: str | None = Field(default=None, max_length=998, index=True)
    from_addr: str = Field(default="", max_length=320)
    from_name: str = Field(default="", max_length=255)
    to_addrs: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    subject: str = Field(default="", sa_column=Column(Text, nullable=False))
    body_text: str = Field(default="", sa_column=Column(Text, nullable=False))
    language: str = Field(default="zh-CN", max_length=8)
    charset_notes: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    sent_at: datetime | None = _opt_ts()
    created_at: datetime = _ts()


class Attachment(SQLModel, table=True):
    __tablename__ = "attachment"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=255)
    size: int
    sha256: str = Field(max_length=64)  # content address: attachments_dir/ab/abcdef...
    flagged: str | None = Field(default=None, max_length=255)


class Event(SQLModel, table=True):
    """Append-only history of a case (and of mail that never became one: case_id NULL)."""

    __tablename__ = "event"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    raw_message_id: int | None = Field(default=None, foreign_key="raw_message.id", index=True)
    at: datetime = _ts()
    actor: str = Field(default="system", max_length=64)
    kind: str = Field(max_length=64)
    from_status: str | None = Field(default=None, max_length=32)
    to_status: str | None = Field(default=None, max_length=32)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class OutboundEmail(SQLModel, table=True):
    __tablename__ = "outbound_email"
    __table_args__ = (Index("ix_outbound_pending", "status", "enqueued_at"),)

    id: int | None = Field(default=None, primary_key=True)
    # One row per (case, kind, occasion): a retried actor finds the row and never mails twice.
    dedupe_key: str = Field(max_length=255, unique=True)
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    kind: str = Field(max_length=64)
    automatic: bool = True
    to_addr: str = Field(max_length=320, index=True)
    subject: str = Field(default="", sa_column=Column(Text, nullable=False))
    message_id: str = Field(max_length=998, index=True)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # queued -> sent | failed
    status: str = Field(default=OutboxStatus.QUEUED, max_length=16)
    attempts: int = 0
    sweeps: int = 0  # times the sweeper enqueued it again
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _ts(index=True)
    enqueued_at: datetime | None = _opt_ts()
    sent_at: datetime | None = _opt_ts()
    bounced_at: datetime | None = _opt_ts()
    bounce_reason: str | None = Field(default=None, sa_column=Column(Text))


class Deadline(SQLModel, table=True):
    """One running time limit of a case (first feedback, decision, result notice, review, ...).

    The scheduler's tick reads `state = 'pending' AND next_action_at <= now` through
    ix_deadline_due, an index range scan however many rows there are.
    """

    __tablename__ = "deadline"
    __table_args__ = (
        UniqueConstraint("case_id", "kind", "occasion", name="uq_deadline_case_kind"),
        Index("ix_deadline_due", "state", "next_action_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    kind: str = Field(max_length=32)
    occasion: int = 0  # a kind that recurs (a second review window) gets a new occasion
    started_at: datetime = _ts()
    due_at: datetime = Field(sa_type=UTCDateTime)
    # pending | paused | met | missed | cancelled
    state: str = Field(default=DeadlineState.PENDING, max_length=16)
    # When the scheduler must look at this row next (a reminder, the due time, an escalation).
    next_action_at: datetime | None = _opt_ts()
    reminders_sent: int = 0
    escalation_tier: int = 0
    paused_at: datetime | None = _opt_ts()
    remaining_working_days: int | None = None  # kept while paused
    remaining_seconds: float | None = None  # for hour-based limits while paused
    closed_at: datetime | None = _opt_ts()
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
