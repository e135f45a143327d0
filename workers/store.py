"""Write fetched bytes as a durable raw_message row: the only thing a mail source does.

Both sources (IMAP poller, folder inbox) call `store_raw` inside their transaction, commit, and
only then enqueue the ids it returned and mark the mail on the server.
"""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlmodel import Session

from models import RawMessage
from models.types import utcnow
from workers.identity import identify


def store_raw(
    session: Session, raw: bytes, mailbox: str, uidvalidity: int | None = None,
    uid: int | None = None,
) -> RawMessage | None:
    """Insert the mail unless it is already stored; returns the new row, None for a duplicate."""
    ident = identify(raw)
    # One round trip for both duplicate checks: the same IMAP uid, or the same mail.
    same = RawMessage.identity == ident.identity
    if uid is not None:
        same = or_(same, and_(RawMessage.mailbox == mailbox,
                              RawMessage.uidvalidity == uidvalidity, RawMessage.uid == uid))
    if session.execute(select(RawMessage.id).where(same).limit(1)).first():
        return None
    row = RawMessage(mailbox=mailbox, uidvalidity=uidvalidity, uid=uid,
                     message_id=ident.message_id, identity=ident.identity, sha256=ident.sha256,
                     size=len(raw), raw=raw, enqueued_at=utcnow())
    session.add(row)
    session.flush()
    return row
