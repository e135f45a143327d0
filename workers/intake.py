"""Turn a parsed mail into rows: open a new case, or file the mail on an existing one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session

from models import Attachment, Case, Event, Message, RawMessage
from models.db import session_scope
from workers.app import App
from workers.attachment_check import flag_attachment
from workers.attachments import store_attachment
from workers.casenumbers import format_case_number
from workers.parse import ParsedMail

_ENSURE_YEAR = text("INSERT INTO case_counter (year, last) VALUES (:y, 0) ON CONFLICT DO NOTHING")
# The UPDATE row-locks the year's counter until commit, so concurrent ingests never share a number.
_NEXT = text("UPDATE case_counter SET last = last + 1 WHERE year = :y RETURNING last")
# Attachments filed per mail; the rest stay in the raw mail. Real evidence is a few dozen
# files; 10,000 one-line parts took 30 s to write one by one (and are a way to fill a disk).
MAX_ATTACHMENTS = 500
# Shown with the charset notes when parse had to guess: staff read such text with care.
UNCERTAIN = "uncertain: charset guessed, compare with the original mail"


def next_case_number(session: Session, prefix: str, year: int) -> str:
    session.execute(_ENSURE_YEAR, {"y": year})
    seq = session.execute(_NEXT, {"y": year}).scalar_one()
    return format_case_number(prefix, year, seq)


@dataclass(frozen=True)
class CaseNumbers:
    """Where a new case's number comes from.

    By default the case's own transaction: numbers without gaps, but the counter row stays
    locked until that transaction commits. A batch holding many cases takes each number in a
    short transaction of its own instead (`separate`), so that concurrent batches do not
    queue on the counter; a batch that rolls back then leaves its numbers unused.
    """

    db_url: str | None = None

    @classmethod
    def separate(cls, db_url: str) -> CaseNumbers:
        return cls(db_url)

    def next(self, session: Session, prefix: str, year: int) -> str:
        if self.db_url is None:
            return next_case_number(session, prefix, year)
        with session_scope(self.db_url) as own:
            return next_case_number(own, prefix, year)


def charset_notes(mail: ParsedMail) -> list[str]:
    return [*mail.charset_notes, *([UNCERTAIN] if mail.charset_uncertain else [])]


def file_message(
    session: Session, app: App, case: Case, mail: ParsedMail, raw: RawMessage, role: str
) -> Message:
    # Values are cut to their columns: PostgreSQL refuses a longer one, and the whole ingest
    # with it (a 300-character display name; a 100-character address as an event's actor).
    msg = Message(case_id=case.id, direction="in", role=role, raw_message_id=raw.id,
                  message_id=mail.message_id[:998] if mail.message_id else None,
                  from_addr=mail.from_addr[:320], from_name=mail.from_name[:255],
                  to_addrs=[*mail.to, *mail.cc],
                  subject=mail.subject, body_text=mail.body_text, language=mail.language,
                  charset_notes=charset_notes(mail))
    session.add(msg)
    session.flush()
    if len(mail.attachments) > MAX_ATTACHMENTS:
        session.add(Event(case_id=case.id, raw_message_id=raw.id, kind="attachments_not_filed",
                          detail={"filed": MAX_ATTACHMENTS, "total": len(mail.attachments),
                                  "reason": f"more than {MAX_ATTACHMENTS} attachments; the rest "
                                            "are in the original mail"}))
    for att in mail.attachments[:MAX_ATTACHMENTS]:
        digest = store_attachment(app.settings.attachments_dir, att.payload)
        session.add(Attachment(message_id=msg.id, filename=att.filename[:255],
                               content_type=att.content_type[:255], size=len(att.payload),
                               sha256=digest,
                               flagged=flag_attachment(att.filename, att.content_type,
                                                       att.payload)))
    return msg


def open_case(
    session: Session, app: App, mail: ParsedMail, raw: RawMessage, received_at: datetime,
    numbers: CaseNumbers | None = None,
) -> Case:
    year = app.calendar.local(received_at).year
    number = (numbers or CaseNumbers()).next(session, app.policy.case_number_prefix, year)
    case = Case(number=number,
                subject=mail.clean_subject or mail.subject, complainant_email=mail.from_addr[:320],
                complainant_name=mail.from_name[:255], language=mail.language,
                received_at=received_at)
    session.add(case)
    session.flush()
    file_message(session, app, case, mail, raw, role="complainant")
    session.add(Event(case_id=case.id, raw_message_id=raw.id, kind="case_opened",
                      actor=mail.from_addr[:64], to_status=case.status,
                      detail={"message_id": mail.message_id, "charset_notes": charset_notes(mail)}))
    return case

