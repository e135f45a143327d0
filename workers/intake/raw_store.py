"""Write fetched bytes as a durable raw_message row: the only thing a mail source does.

Both sources store inside their transaction (the IMAP poller with `store_many` per fetched
batch, the folder inbox with `store_raw` per file), commit, and only then enqueue the ids
returned and mark the mail on the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import ColumnElement, CursorResult, and_, or_, select
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, col

from models import RawMessage
from models.db import insert_skipping_existing, table_of
from models.types import utcnow
from workers.mail.identity import identify

RAW = table_of(RawMessage)


class Incoming(NamedTuple):
    """One fetched mail: its bytes, its IMAP uid, the server's arrival time (INTERNALDATE)."""

    raw: bytes
    uid: int | None = None
    arrived_at: datetime | None = None


def store_raw(
    session: Session,
    raw: bytes,
    mailbox: str,
    uidvalidity: int | None = None,
    uid: int | None = None,
    arrived_at: datetime | None = None,
) -> RawMessage | None:
    """Insert the mail unless it is already stored; returns the new row, None for a duplicate.

    `arrived_at`: when the mail server says the mail arrived (IMAP INTERNALDATE); the row's
    received_at, from which the legal clock counts, is that moment when it is believable.
    """
    values = _values(Incoming(raw, uid, arrived_at), mailbox, uidvalidity, utcnow())
    # One statement: the unique keys (identity; mailbox, uidvalidity, uid) are the duplicate
    # check, so no SELECT first and no flush.
    new = _insert_new(session, [values])
    if not new:
        return None
    row = RawMessage(id=new[values["identity"]], **values)
    # Attach it as the row it now is (no SQL): callers read and update it like a loaded one.
    make_transient_to_detached(row)
    session.add(row)
    return row


def store_many(
    session: Session, mailbox: str, uidvalidity: int | None, mails: Sequence[Incoming]
) -> list[int]:
    """`store_raw` for a batch in a few statements, not several per mail: the new row ids, in
    the order of `mails`.

    A mail is skipped, as if each were stored in turn, when its identity or its (mailbox,
    uidvalidity, uid) is stored already, or by an earlier mail of `mails`.
    """
    if not mails:
        return []
    now = utcnow()
    rows = [_values(m, mailbox, uidvalidity, now) for m in mails]
    # One SELECT for the whole batch spares sending the bytes of mail stored already (all of
    # it after a UIDVALIDITY change); the INSERT's ON CONFLICT is what decides under a race.
    same: ColumnElement[bool] = col(RawMessage.identity).in_([r["identity"] for r in rows])
    uids = [r["uid"] for r in rows if r["uid"] is not None]
    if uids:
        same = or_(
            same,
            and_(
                col(RawMessage.mailbox) == mailbox,
                col(RawMessage.uidvalidity) == uidvalidity,
                col(RawMessage.uid).in_(uids),
            ),
        )
    seen_identities: set[str] = set()
    seen_uids: set[int] = set()
    for identity, row_mailbox, row_uidvalidity, uid in session.execute(
        select(
            col(RawMessage.identity),
            col(RawMessage.mailbox),
            col(RawMessage.uidvalidity),
            col(RawMessage.uid),
        ).where(same)
    ):
        seen_identities.add(identity)
        if row_mailbox == mailbox and row_uidvalidity == uidvalidity and uid is not None:
            seen_uids.add(uid)
    fresh: list[dict[str, Any]] = []
    for r in rows:  # in order, so the first of a mail fetched twice in one batch is the one kept
        if r["identity"] in seen_identities or r["uid"] in seen_uids:
            continue
        seen_identities.add(r["identity"])
        if r["uid"] is not None:
            seen_uids.add(r["uid"])
        fresh.append(r)
    new = _insert_new(session, fresh)
    return [new[r["identity"]] for r in fresh if r["identity"] in new]


def _values(mail: Incoming, mailbox: str, uidvalidity: int | None, now: datetime) -> dict[str, Any]:
    ident = identify(mail.raw)
    return {
        "mailbox": mailbox,
        "uidvalidity": uidvalidity,
        "uid": mail.uid,
        "message_id": ident.message_id,
        "identity": ident.identity,
        "sha256": ident.sha256,
        "size": len(mail.raw),
        "raw": mail.raw,
        "enqueued_at": now,
        "received_at": arrival(mail.arrived_at, now),
    }


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """INSERT … ON CONFLICT DO NOTHING: identity → id of each row inserted.

    A row that collides with one on either unique key (identity; mailbox, uidvalidity, uid),
    committed meanwhile by a racing poller or still uncommitted (PostgreSQL waits for its
    outcome), is skipped alone, with no savepoint and no error to undo. Rows must not collide
    with each other: the id is matched back by identity.
    """
    if not rows:
        return {}
    stmt = insert_skipping_existing(session, RAW)
    if session.get_bind().dialect.insert_executemany_returning:
        # Sent as one multi-row INSERT … RETURNING (SQLAlchemy's insertmanyvalues, pages of
        # up to 1000 rows); the order RETURNING gives rows in is not promised, hence identity.
        result = session.execute(stmt.returning(RAW.c.id, RAW.c.identity), rows)
        return {identity: row_id for row_id, identity in result}
    # SQLite older than 3.35 has no RETURNING: a row at a time, skipped ones insert nothing.
    new: dict[str, int] = {}
    for r in rows:
        # An INSERT's result is a CursorResult; Session.execute is typed for the general case.
        result = cast(CursorResult[Any], session.execute(stmt, r))
        if result.rowcount == 1 and result.inserted_primary_key:
            new[r["identity"]] = result.inserted_primary_key[0]
    return new


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
