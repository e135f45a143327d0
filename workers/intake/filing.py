"""Turn a parsed mail into rows: open a new case, or file the mail on an existing one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session

from models import Attachment, Case, Event, Message, RawMessage
from models.db import get_engine, insert_as_loaded
from workers.app import App
from workers.intake.attachments import store_attachment
from workers.mail.attachment_check import InflateBudget, flag_attachment
from workers.mail.casenumbers import format_case_number
from workers.mail.parse import ParsedMail

# One statement: the year's row is created at its first case, and the UPDATE row-locks it until
# commit, so concurrent ingests never share a number.
_NEXT = text(
    "INSERT INTO case_counter (year, last) VALUES (:y, 1) ON CONFLICT (year) "
    "DO UPDATE SET last = case_counter.last + 1 RETURNING last"
)
# Shown with the charset notes when parse had to guess: staff read such text with care.
UNCERTAIN = "uncertain: charset guessed, compare with the original mail"


def next_case_number(session: Session, prefix: str, year: int) -> str:
    seq = session.execute(_NEXT, {"y": year}).scalar_one()
    return format_case_number(prefix, year, seq)


@dataclass
class CaseNumbers:
    """Where a new case's number comes from.

    By default the case's own transaction: numbers without gaps, but the counter row stays
    locked until that transaction commits. A batch holding many cases takes each number in a
    short autocommitted statement of its own instead (`separate`), so that concurrent batches
    do not queue on the counter; a batch that rolls back then leaves its numbers unused,
    unless it runs again (`reuse_taken`).
    """

    db_url: str | None = None
    taken: list[tuple[str, int, str]] = field(default_factory=list)
    spare: list[tuple[str, int, str]] = field(default_factory=list)

    @classmethod
    def separate(cls, db_url: str) -> CaseNumbers:
        return cls(db_url)

    def next(self, session: Session, prefix: str, year: int) -> str:
        if self.db_url is None:
            return next_case_number(session, prefix, year)
        number = next((n for p, y, n in self.spare if (p, y) == (prefix, year)), None)
        if number is not None:
            self.spare.remove((prefix, year, number))
        else:
            with get_engine(self.db_url).connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                seq = conn.execute(_NEXT, {"y": year}).scalar_one()
            number = format_case_number(prefix, year, seq)
        self.taken.append((prefix, year, number))
        return number

    def reuse_taken(self) -> None:
        """The batch rolled back and runs again: its numbers go to its cases once more, in the
        same order, instead of leaving a gap of a whole batch."""
        self.spare, self.taken = [*self.taken, *self.spare], []


def charset_notes(mail: ParsedMail) -> list[str]:
    return [*mail.charset_notes, *([UNCERTAIN] if mail.charset_uncertain else [])]


def file_message(
    session: Session, app: App, case: Case, mail: ParsedMail, raw: RawMessage, role: str
) -> Message:
    # Values are cut to their columns: PostgreSQL refuses a longer one, and the whole ingest
    # with it (a 300-character display name; a 100-character address as an event's actor).
    assert case.id is not None  # a filed case has its row
    msg = Message(
        case_id=case.id,
        direction="in",
        role=role,
        raw_message_id=raw.id,
        message_id=mail.message_id[:998] if mail.message_id else None,
        from_addr=mail.from_addr[:320],
        from_name=mail.from_name[:255],
        to_addrs=[*mail.to, *mail.cc],
        subject=mail.subject,
        body_text=mail.body_text,
        language=mail.language,
        charset_notes=charset_notes(mail),
    )
    insert_as_loaded(session, msg)
    most = app.policy.limits.max_attachments
    if len(mail.attachments) > most:
        session.add(
            Event(
                case_id=case.id,
                raw_message_id=raw.id,
                kind="attachments_not_filed",
                detail={
                    "filed": most,
                    "total": len(mail.attachments),
                    "reason": f"more than {most} attachments; the rest are in the original mail",
                },
            )
        )
    assert msg.id is not None
    budget = InflateBudget(app.policy.limits.max_inflate_bytes_per_mail)  # all parts share it
    for att in mail.attachments[:most]:
        digest = store_attachment(app.settings.attachments_dir, att.payload)
        session.add(
            Attachment(
                message_id=msg.id,
                filename=att.filename[:255],
                content_type=att.content_type[:255],
                size=len(att.payload),
                sha256=digest,
                flagged=flag_attachment(att.filename, att.content_type, att.payload, budget),
            )
        )
    return msg


def open_case(
    session: Session,
    app: App,
    mail: ParsedMail,
    raw: RawMessage,
    received_at: datetime,
    numbers: CaseNumbers | None = None,
) -> Case:
    year = app.calendar.local(received_at).year
    number = (numbers or CaseNumbers()).next(session, app.policy.case_number_prefix, year)
    case = Case(
        number=number,
        subject=mail.clean_subject or mail.subject,
        complainant_email=mail.from_addr[:320],
        complainant_name=mail.from_name[:255],
        language=mail.language,
        received_at=received_at,
    )
    insert_as_loaded(session, case)
    file_message(session, app, case, mail, raw, role="complainant")
    session.add(
        Event(
            case_id=case.id,
            raw_message_id=raw.id,
            kind="case_opened",
            actor=mail.from_addr[:64],
            to_status=case.status,
            detail={"message_id": mail.message_id, "charset_notes": charset_notes(mail)},
        )
    )
    return case
