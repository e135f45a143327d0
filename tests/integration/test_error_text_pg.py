"""On PostgreSQL a refused statement's stored reason names the constraint, never the values:
not the bound parameters, nor the server's DETAIL line (issue 11 item 19)."""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from models import RawMessage
from models.db import error_text, session_scope, table_of
from workers.intake.raw_store import store_raw

pytestmark = pytest.mark.integration

SECRET = "wang.jianguo.110101199003077777@example.cn"


def test_a_duplicate_key_reason_has_no_values(fresh_db: str) -> None:
    with session_scope(fresh_db) as session:
        # The mailbox key is the value the server's DETAIL line would quote.
        assert store_raw(session, b"Subject: a\r\n\r\nhi\r\n", SECRET, 1, 1) is not None
    with pytest.raises(IntegrityError) as raised, session_scope(fresh_db) as session:
        session.execute(
            insert(table_of(RawMessage)).values(
                mailbox=SECRET, uidvalidity=1, uid=1, identity="x", sha256="0", size=1, raw=b"b"
            )
        )

    text = error_text(raised.value)

    assert SECRET in str(raised.value.orig)  # PostgreSQL's own DETAIL
    assert SECRET not in text and "jianguo" not in text
    assert "SQLSTATE 23505" in text and "raw_message" in text
    assert "parameters hidden" in str(raised.value)  # hide_parameters: the log's text too
