"""Database errors carry no bound values into logs or raw_message.reason (issue 11 item 19)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from models import RawMessage
from models.db import session_scope, table_of
from workers.app import App
from workers.intake.ingest import record_failure
from workers.intake.raw_store import store_raw

SECRET = "王建国 110101199003077777 13812345678"  # what a mail's bytes and fields hold


def failing_insert(app: App, raw_id: int) -> IntegrityError:
    """A statement the database refuses, with personal data in its bound parameters."""
    with pytest.raises(IntegrityError) as raised, session_scope(app.db_url) as session:
        identity = session.get(RawMessage, raw_id).identity  # type: ignore[union-attr]
        session.execute(
            insert(table_of(RawMessage)).values(
                mailbox=SECRET, identity=identity, sha256=SECRET, size=1, raw=SECRET.encode()
            )
        )
    return raised.value


def test_a_failing_statement_leaves_no_values_in_the_reason_or_the_log(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    with session_scope(app.db_url) as session:
        raw = store_raw(session, b"Subject: x\r\n\r\nhi\r\n", "INBOX")
        assert raw is not None and raw.id is not None
        raw_id = raw.id
    error = failing_insert(app, raw_id)

    with caplog.at_level(logging.ERROR):
        logging.getLogger("test").error("ingest failed", exc_info=error)
    record_failure(app, raw_id, error)

    with session_scope(app.db_url) as session:
        reason = session.get(RawMessage, raw_id).reason  # type: ignore[union-attr]
    assert reason is not None and "IntegrityError" in reason
    for text in (reason, caplog.text, str(error)):
        for part in SECRET.split():
            assert part not in text
    assert "UNIQUE" in reason  # what failed is still said: the constraint, not the values


def test_error_text_of_other_errors_is_their_message() -> None:
    from models.db import error_text

    assert error_text(ValueError("bad header")) == "ValueError: bad header"
