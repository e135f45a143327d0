"""The intake hot path's shortcuts give what the long way gave.

Some rows are plain Core inserts (deadlines.on_case_opened, outbox.queue_reply's Message and
Event): the same rows and columns as the model objects, in the same event order, and still once
only when a step runs twice. compose writes a plain header without email.header."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.header import Header

import pytest
from sqlalchemy import select

from models import Case, Deadline, Event, Message, OutboundEmail
from models.db import session_scope
from workers.app import App
from workers.clock.deadlines import _new_row, on_case_opened
from workers.clock.rules import Kind
from workers.intake.raw_store import store_raw
from workers.mail.compose import _header
from workers.outbound.outbox import ReplyRequest, queue_reply

AT = datetime(2024, 3, 4, 1, 30, tzinfo=UTC)
ACK_CONTEXT = {
    "received_at_text": "x",
    "feedback_due_text": "y",
    "original_subject": "s",
    "organisation": "o",
    "stage": "received",
    "next_date_text": "y",
    "next_what": "the latest time of our first answer to you",
}


def _case(s, number: str = "TS-2024-000001") -> Case:
    case = Case(
        number=number,
        subject="宽带断网",
        complainant_email="a@example.net",
        complainant_name="王",
        received_at=AT,
    )
    s.add(case)
    s.flush()
    s.add(Event(case_id=case.id, kind="case_opened"))  # left pending, as open_case does
    return case


def test_case_opening_deadlines_match_the_model_rows_and_are_written_once(app: App) -> None:
    with session_scope(app.db_url) as s:
        case = _case(s)
        on_case_opened(s, app, case, AT)
        on_case_opened(s, app, case, AT)  # a rerun writes nothing more
        case_id = case.id
        expected = {
            str(k): _new_row(app, case, k, 0, AT) for k in (Kind.FIRST_FEEDBACK, Kind.ONE_MONTH)
        }
    with session_scope(app.db_url) as s:
        rows = list(
            s.execute(
                select(Deadline).where(Deadline.case_id == case_id).order_by(Deadline.id)
            ).scalars()
        )
        events = list(
            s.execute(select(Event).where(Event.case_id == case_id).order_by(Event.id)).scalars()
        )
    assert [r.kind for r in rows] == ["first_feedback", "one_month"]
    for row in rows:
        want = expected[row.kind]
        got = row.model_dump(exclude={"id"})
        assert got == want.model_dump(exclude={"id"})
    assert [e.kind for e in events] == ["case_opened", "deadline_opened", "deadline_opened"]
    for event, row in zip(events[1:], rows, strict=True):
        assert event.actor == "clock" and event.at == AT
        assert event.detail == {
            "deadline": row.kind,
            "occasion": 0,
            "due_at": app.calendar.local(row.due_at).isoformat(),
        }


def test_a_queued_reply_writes_its_message_and_event_once(app: App) -> None:
    req = ReplyRequest(
        kind="acknowledgement",
        occasion="m1@example.net",
        to_addr="A@Example.net",
        to_name="王",
        language="zh-CN",
        context={**ACK_CONTEXT, "sla": app.policy.sla},
    )
    with session_scope(app.db_url) as s:
        case = _case(s)
        first = queue_reply(s, app, case, req)
        again = queue_reply(s, app, case, req)
        assert first is not None and again is first
        case_id, out_id = case.id, first.id
    with session_scope(app.db_url) as s:
        assert queue_reply(s, app, s.get(Case, case_id), req).id == out_id  # another transaction
        row = s.get(OutboundEmail, out_id)
        messages = list(s.execute(select(Message).where(Message.case_id == case_id)).scalars())
        events = list(
            s.execute(select(Event).where(Event.case_id == case_id).order_by(Event.id)).scalars()
        )
    assert row.to_addr == "a@example.net" and row.automatic and row.status == "queued"
    assert len(messages) == 1
    msg = messages[0]
    assert (msg.direction, msg.role, msg.outbound_id, msg.message_id) == (
        "out",
        "complainant",
        out_id,
        row.message_id,
    )
    assert (msg.from_addr, msg.from_name, msg.to_addrs, msg.charset_notes, msg.sent_at) == (
        app.settings.intake_address,
        "",
        ["a@example.net"],
        [],
        None,
    )
    assert msg.subject == row.subject and msg.body_text and msg.language == "zh-CN"
    assert msg.created_at is not None and msg.raw_message_id is None
    assert [e.kind for e in events] == ["case_opened", "mail_queued"]
    queued = events[1]
    assert (queued.actor, queued.raw_message_id, queued.from_status, queued.to_status) == (
        "system",
        None,
        None,
        None,
    )
    assert queued.detail == {
        "kind": "acknowledgement",
        "to": "a@example.net",
        "outbound_id": out_id,
    }


def test_a_reply_outside_the_cap_queued_again_finds_its_row(app: App) -> None:
    """Mail the hourly cap does not count (a person's answer) skips the existing-row query:
    its INSERT skips a key already there, and a rerun gets the row that is."""
    req = ReplyRequest(
        kind="acknowledgement",
        occasion="by-hand",
        to_addr="b@example.net",
        to_name="李",
        language="zh-CN",
        auto_submitted=None,
        context={**ACK_CONTEXT, "sla": app.policy.sla},
    )
    with session_scope(app.db_url) as s:
        case = _case(s)
        first = queue_reply(s, app, case, req)
        assert first is not None and queue_reply(s, app, case, req) is first
        case_id, out_id = case.id, first.id
    with session_scope(app.db_url) as s:
        again = queue_reply(s, app, s.get(Case, case_id), req)
        assert again is not None and (again.id, again.status) == (out_id, "queued")
        rows = list(s.execute(select(OutboundEmail.id)).scalars())
        messages = list(s.execute(select(Message.id).where(Message.case_id == case_id)).scalars())
        queued = list(s.execute(select(Event.id).where(Event.kind == "mail_queued")).scalars())
    assert rows == [out_id] and len(messages) == 1 and len(queued) == 1


def test_the_hourly_cap_still_suppresses_automatic_replies(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = app.policy.limits.max_auto_replies_per_sender_per_hour
    # One subject here: the daily per-subject loop breaker would stop the second mail.
    monkeypatch.setattr(
        app.policy.limits, "max_auto_replies_per_sender_per_subject_per_day", cap + 1
    )
    with session_scope(app.db_url) as s:
        case = _case(s)
        rows = [
            queue_reply(
                s,
                app,
                case,
                ReplyRequest(
                    kind="acknowledgement",
                    occasion=f"m{i}",
                    to_addr="loop@example.net",
                    to_name="",
                    language="en",
                    context={**ACK_CONTEXT, "sla": app.policy.sla},
                ),
            )
            for i in range(cap + 1)
        ]
        kinds = list(
            s.execute(
                select(Event.kind).where(Event.case_id == case.id).order_by(Event.id)
            ).scalars()
        )
    assert all(r is not None for r in rows[:cap]) and rows[cap] is None
    assert kinds[-1] == "auto_reply_suppressed"


def test_a_mail_is_stored_once_by_uid_or_by_identity(app: App) -> None:
    raw = b"Message-ID: <x@example.net>\r\nFrom: a@example.net\r\nSubject: s\r\n\r\nbody"
    other = b"Message-ID: <y@example.net>\r\nFrom: a@example.net\r\nSubject: s\r\n\r\nbody"
    with session_scope(app.db_url) as s:
        assert store_raw(s, raw, "INBOX", 7, 1) is not None
        assert store_raw(s, raw, "INBOX", 7, 2) is None  # same mail, another uid
        assert store_raw(s, other, "INBOX", 7, 1) is None  # same uid
        assert store_raw(s, other, "INBOX", 8, 1) is not None  # a new UIDVALIDITY
        assert store_raw(s, raw, "folder:x") is None


def test_a_plain_header_is_what_the_email_package_would_write() -> None:
    names = ["Date", "Message-ID", "Reply-To", "References", "X-Complaintdesk-Case", "Subject"]
    alphabet = 'ab =?<>@.,;:"()[]\\!~-_\t'
    rng = random.Random(7)
    for _ in range(20000):
        name = rng.choice(names)
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 90)))
        assert _header(name, value) == Header(value, "us-ascii", header_name=name).encode(
            linesep="\r\n"
        ), (name, value)
