"""`complaintdesk health`: each check turns red when its number passes the limit."""

from __future__ import annotations

from datetime import timedelta

from models import MailboxCursor, RawMessage
from models.db import session_scope
from models.types import utcnow
from workers.app import App
from workers.intake.quarantine import quarantine_row
from workers.intake.raw_store import store_raw
from workers.ops.health import as_json, measure


def _checks(app: App, **kw: object) -> dict:
    with session_scope(app.db_url) as s:
        return as_json(measure(s, **kw))  # type: ignore[arg-type]


def test_quiet_system_is_healthy_when_the_poller_spoke_recently(app: App) -> None:
    with session_scope(app.db_url) as s:
        s.add(MailboxCursor(mailbox="imap://x", last_contact_at=utcnow()))
    report = _checks(app)
    assert report["ok"], report


def test_a_poller_that_never_spoke_is_unhealthy(app: App) -> None:
    report = _checks(app)
    assert not report["ok"]
    assert not report["checks"]["poller_last_contact_age"]["ok"]
    assert _checks(app, expect_poller=False)["ok"]


def test_old_unprocessed_mail_and_quarantine_are_reported(app: App) -> None:
    with session_scope(app.db_url) as s:
        s.add(MailboxCursor(mailbox="imap://x", last_contact_at=utcnow()))
        old = store_raw(s, b"From: a@example.com\r\nSubject: x\r\n\r\nx", "test")
        old.received_at = utcnow() - timedelta(minutes=30)
        bad = store_raw(s, b"From: b@example.com\r\nSubject: y\r\n\r\ny", "test")
        quarantine_row(s, bad, "cannot parse")
    report = _checks(app)
    assert not report["ok"]
    age = report["checks"]["oldest_unprocessed_mail_age"]
    assert not age["ok"] and 1790 < age["value"] < 1900
    assert (
        report["checks"]["quarantined"]["value"] == 1 and not report["checks"]["quarantined"]["ok"]
    )
    with session_scope(app.db_url) as s:
        assert s.get(RawMessage, bad.id).status == "quarantined"
