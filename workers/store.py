"""Write fetched bytes as a durable raw_message row: the only thing a mail source does.

Both sources (IMAP poller, folder inbox) call `store_raw` inside their transaction, commit, and
only then enqueue the ids it returned and mark the mail on the server.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlmodel import Session

from models import RawMessage
from models.types import utcnow
from workers.identity import identify


def store_raw(
    session: Session, raw: bytes, mailbox: str, uidvalidity: int | None = None,
    uid: int | None = None, arrived_at: datetime | None = None,
) -> RawMessage | None:
    """Insert the mail unless it is already stored; returns the new row, None for a duplicate.

    `arrived_at`: when the mail server says the mail arrived (IMAP INTERNALDATE); the row's
    received_at, from which the legal clock counts, is that moment when it is believable.
    """
    ident = identify(raw)
    # One round trip for both duplicate checks: the same IMAP uid, or the same mail.
    same = RawMessage.identity == ident.identity
    if uid is not None:
        same = or_(same, and_(RawMessage.mailbox == mailbox,
                              RawMessage.uidvalidity == uidvalidity, RawMessage.uid == uid))
    if session.execute(select(RawMessage.id).where(same).limit(1)).first():
        return None
    now = utcnow()
    row = RawMessage(mailbox=mailbox, uidvalidity=uidvalidity, uid=uid,
                     message_id=ident.message_id, identity=ident.identity, sha256=ident.sha256,
                     size=len(raw), raw=raw, enqueued_at=now,
                     received_at=arrival(arrived_at, now))
    session.add(row)
    session.flush()
    return row


# A server's arrival time older than this is not this delivery's: mail a user moved or copied
# in keeps the INTERNALDATE of its first arrival (RFC 3501 6.4.7), and counting a complaint's
# deadlines from last year would escalate it at once. A poller down for longer than this is
# an outage `complaintdesk health` reports.
MAX_ARRIVAL_AGE = timedelta(days=3)


def arrival(arrived_at: datetime | None, now: datetime) -> datetime:
    """When the mail reached our mailbox: the server's time if believable, else now.

    A mail that came while the poller was down is timely by when it came, not when we fetched
    it (a review request on the window's last day stays timely)."""
    if arrived_at is None or arrived_at.tzinfo is None:
        return now
    arrived_at = arrived_at.astimezone(UTC)
    if arrived_at > now or now - arrived_at > MAX_ARRIVAL_AGE:
        return now
    return arrived_at
