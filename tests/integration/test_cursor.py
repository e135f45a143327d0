"""The mailbox cursor on PostgreSQL: two pollers without a shared lock (two deployments, a lost
Redis) that start on a new mailbox at the same moment both get the one cursor row, and neither
fails on a duplicate key."""

from __future__ import annotations

import threading

import pytest

from models.db import session_scope
from tests.integration.conftest import query
from workers.intake.poller import load_cursor

pytestmark = pytest.mark.integration

KEY = "imap://complaints@127.0.0.1:143/INBOX"


def test_pollers_creating_the_cursor_at_once_share_one_row(fresh_db: str) -> None:
    start = threading.Barrier(4)
    errors: list[str] = []

    def first_poll(uid: int) -> None:
        try:
            with session_scope(fresh_db) as session:
                start.wait(10)
                cursor = load_cursor(session, KEY)
                cursor.last_uid = max(cursor.last_uid, uid)
        except Exception as e:  # what a poller would have logged, and backed off with
            errors.append(repr(e))

    threads = [threading.Thread(target=first_poll, args=(uid,)) for uid in (3, 9, 5, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert errors == []
    # The row lock serialises them: the highest uid stands, whatever the order.
    assert query(fresh_db, "SELECT mailbox, last_uid FROM mailbox_cursor") == [(KEY, 9)]
