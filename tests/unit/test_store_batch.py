"""The poller's batch store on SQLite: one row per mail, whatever the batch repeats or the
database holds already, and the new ids in uid order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from models import MailboxCursor, RawMessage
from models.db import get_engine, session_scope
from models.types import utcnow
from workers.app import App
from workers.intake.poller import store_batch
from workers.intake.raw_store import store_raw


def mail(tag: str, message_id: bool = True) -> bytes:
    head = f"Message-ID: <{tag}@example.net>\r\n" if message_id else ""
    return f"{head}From: {tag}@example.net\r\nSubject: {tag}\r\n\r\n{tag}\r\n".encode()


def rows(app: App) -> list[tuple[Any, ...]]:
    """(id, mailbox, uidvalidity, uid, raw) of every row, in id order."""
    with session_scope(app.db_url) as s:
        return [
            tuple(r)
            for r in s.execute(
                select(
                    RawMessage.id,
                    RawMessage.mailbox,
                    RawMessage.uidvalidity,
                    RawMessage.uid,
                    RawMessage.raw,
                ).order_by(RawMessage.id)
            )
        ]


def test_a_batch_stores_each_new_mail_once_and_returns_their_ids_in_uid_order(app: App) -> None:
    stored = store_batch(app, "INBOX", 7, {1: mail("a"), 2: mail("b")})
    assert len(stored) == 2

    came = utcnow() - timedelta(hours=2)
    new = store_batch(
        app,
        "INBOX",
        7,
        {
            6: mail("e", message_id=False),
            3: mail("c"),
            4: mail("a"),  # stored already, under another uid
            2: mail("x"),  # its uid is stored already
            5: mail("c"),  # the same mail twice in this batch
            7: mail("e", message_id=False),  # twice too, keyed by its bytes
            8: mail("d"),
        },
        arrived={3: came},
    )

    after = rows(app)
    assert [(box, v, uid, raw) for _, box, v, uid, raw in after] == [
        ("INBOX", 7, 1, mail("a")),
        ("INBOX", 7, 2, mail("b")),
        ("INBOX", 7, 3, mail("c")),
        ("INBOX", 7, 6, mail("e", message_id=False)),
        ("INBOX", 7, 8, mail("d")),
    ]
    assert new == [row_id for row_id, *_ in after[2:]]
    with session_scope(app.db_url) as s:
        cursor = s.get(MailboxCursor, "INBOX")
        assert cursor is not None and cursor.last_uid == 8
        received = dict(s.execute(select(RawMessage.uid, RawMessage.received_at)).all())
    assert received[3] == came and received[8] > came
    # All of it again, as after a UIDVALIDITY change: nothing new.
    assert store_batch(app, "INBOX", 8, {u: mail(t) for u, t in enumerate("abcd", 1)}) == []
    assert len(rows(app)) == 5


def test_without_returning_each_row_is_inserted_alone(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite before 3.35 has no RETURNING: the same rows, a statement per mail."""
    dialect = get_engine(app.db_url).dialect
    monkeypatch.setattr(dialect, "insert_returning", False)
    monkeypatch.setattr(dialect, "insert_executemany_returning", False)
    first = store_batch(app, "INBOX", 7, {1: mail("a")})
    new = store_batch(app, "INBOX", 7, {2: mail("b"), 3: mail("a"), 4: mail("b"), 5: mail("c")})
    assert first + new == [row_id for row_id, *_ in rows(app)]
    assert [uid for *_, uid, _ in rows(app)] == [1, 2, 5]
    with session_scope(app.db_url) as s:
        assert store_raw(s, mail("a"), "folder:x") is None
        row = store_raw(s, mail("f"), "folder:x")
        assert row is not None
    assert rows(app)[-1] == (row.id, "folder:x", None, None, mail("f"))


def test_store_raw_returns_the_row_as_stored(app: App) -> None:
    with session_scope(app.db_url) as s:
        row = store_raw(s, mail("a"), "folder:x")
        assert row is not None and row.id is not None
        assert s.get(RawMessage, row.id) is row  # in the session, no SELECT needed
        row.status = "processed"  # and updated like any loaded row
    with session_scope(app.db_url) as s:
        stored = s.get(RawMessage, row.id)
        assert stored is not None
        assert (stored.raw, stored.status, stored.disposition, stored.attempts, stored.size) == (
            mail("a"),
            "processed",
            "pending",
            0,
            len(mail("a")),
        )
        assert stored.received_at == row.received_at == stored.enqueued_at
