"""open_case / file_message write the same rows whether by model objects or by Core inserts.

Every column of the message, its attachments and the events, as the case view shows them, and
the event order (ids: the order `case show` lists the history in)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from models import Attachment, Case, Event, Message
from models.db import session_scope
from models.types import utcnow
from workers.app import App
from workers.clock.deadlines import on_case_opened
from workers.intake.attachments import attachment_path
from workers.intake.filing import UNCERTAIN, file_message, open_case
from workers.intake.raw_store import store_raw
from workers.mail.attachment_check import flag_attachment
from workers.mail.parse import ParsedAttachment, ParsedMail
from workers.ops.case_views import case_detail

AT = datetime(2024, 3, 4, 1, 30, tzinfo=UTC)
LONG_ID = "<" + "m" * 1100 + "@example.net>"
LONG_ADDR = "wang." + "x" * 400 + "@example.net"
LONG_NAME = "x" * 300 + ".txt"


def _mail(**kw: Any) -> ParsedMail:
    values: dict[str, Any] = dict(
        message_id=LONG_ID,
        from_addr=LONG_ADDR,
        from_name="王" * 300,
        to=["complaints@example.org"],
        cc=["cc@example.net"],
        reply_to=[],
        subject="Re: 宽带断网",
        clean_subject="宽带断网",
        date=None,
        in_reply_to=[],
        references=[],
        body_text="断网三天。\n",
        body_html=None,
        attachments=[
            ParsedAttachment("发票.pdf", "application/pdf", b"%PDF-1.4 a"),
            ParsedAttachment(LONG_NAME, "text/plain", b"plain text"),
            ParsedAttachment("bad.zip", "application/zip", b"not a zip"),
        ],
        headers={},
        charset_notes=["gb2312 read as gb18030"],
        charset_uncertain=True,
        language="zh-CN",
        received_hops=1,
    )
    values.update(kw)
    return ParsedMail(**values)


def _sha(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def _raw(s: Any, tag: str) -> Any:
    raw = store_raw(s, f"Subject: {tag}\r\n\r\n{tag}\r\n".encode(), "test")
    assert raw is not None
    return raw


def _recent(value: str | None, since: datetime) -> bool:
    assert value is not None
    return since - timedelta(seconds=1) <= datetime.fromisoformat(value) <= utcnow()


def _without_times(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != key} for row in rows]


def test_a_new_case_writes_every_column_as_before_in_order(app: App) -> None:
    mail, since = _mail(), utcnow()
    with session_scope(app.db_url) as s:
        raw = _raw(s, "one")
        case = open_case(s, app, mail, raw, AT)
        assert case.id is not None and case.status == "received"  # callers read these
        on_case_opened(s, app, case, AT)
        number, case_id, raw_id = case.number, case.id, raw.id
    with session_scope(app.db_url) as s:
        detail = case_detail(s, number)
        message = s.execute(select(Message).where(Message.case_id == case_id)).scalar_one()
        atts = list(s.execute(select(Attachment).order_by(Attachment.id)).scalars())
        events = list(
            s.execute(select(Event).where(Event.case_id == case_id).order_by(Event.id)).scalars()
        )
    assert detail is not None
    assert (detail["subject"], detail["complainant"], detail["complainant_name"]) == (
        "宽带断网",
        LONG_ADDR[:320],
        "王" * 255,
    )
    [shown] = detail["messages"]
    assert _recent(shown.pop("created_at"), since)
    assert shown == {
        "direction": "in",
        "role": "complainant",
        "message_id": LONG_ID[:998],
        "from": LONG_ADDR[:320],
        "from_name": "王" * 255,
        "to": ["complaints@example.org", "cc@example.net"],
        "subject": "Re: 宽带断网",
        "text": "断网三天。\n",
        "language": "zh-CN",
        "charset_notes": ["gb2312 read as gb18030", UNCERTAIN],
        "attachments": [
            {
                "filename": "发票.pdf",
                "content_type": "application/pdf",
                "size": 10,
                "sha256": _sha(b"%PDF-1.4 a"),
                "flagged": None,
            },
            {
                "filename": LONG_NAME[:255],
                "content_type": "text/plain",
                "size": 10,
                "sha256": _sha(b"plain text"),
                "flagged": None,
            },
            {
                "filename": "bad.zip",
                "content_type": "application/zip",
                "size": 9,
                "sha256": _sha(b"not a zip"),
                "flagged": flag_attachment("bad.zip", "application/zip", b"not a zip"),
            },
        ],
    }
    assert atts[2].flagged and atts[2].flagged.startswith("unreadable zip")
    assert [a.message_id for a in atts] == [message.id] * 3
    assert all(attachment_path(app.settings.attachments_dir, a.sha256).read_bytes() for a in atts)
    # The columns the view leaves out.
    assert (message.raw_message_id, message.outbound_id, message.sent_at) == (raw_id, None, None)
    assert [e.kind for e in events] == ["case_opened", "deadline_opened", "deadline_opened"]
    opened = events[0]
    assert (opened.raw_message_id, opened.actor, opened.from_status, opened.to_status) == (
        raw_id,
        LONG_ADDR[:64],
        None,
        "received",
    )
    assert opened.detail == {
        "message_id": LONG_ID,  # the event keeps it whole (JSON)
        "charset_notes": ["gb2312 read as gb18030", UNCERTAIN],
    }
    assert since - timedelta(seconds=1) <= opened.at <= utcnow()
    assert _without_times(detail["events"], "at")[0] == {
        "actor": LONG_ADDR[:64],
        "kind": "case_opened",
        "from": None,
        "to": "received",
        "detail": opened.detail,
    }


def test_a_mail_without_message_id_or_attachments(app: App) -> None:
    mail = _mail(
        message_id=None,
        attachments=[],
        cc=[],
        charset_notes=[],
        charset_uncertain=False,
        from_addr="a@example.net",
        from_name="",
    )
    with session_scope(app.db_url) as s:
        case = open_case(s, app, mail, _raw(s, "two"), AT)
        number = case.number
    with session_scope(app.db_url) as s:
        detail = case_detail(s, number)
        assert s.execute(select(Attachment)).first() is None
    assert detail is not None
    [shown] = detail["messages"]
    assert (shown["message_id"], shown["to"], shown["charset_notes"], shown["attachments"]) == (
        None,
        ["complaints@example.org"],
        [],
        [],
    )
    assert [(e["kind"], e["actor"], e["detail"]) for e in detail["events"]] == [
        ("case_opened", "a@example.net", {"message_id": None, "charset_notes": []})
    ]


def test_too_many_attachments_files_the_first_and_says_so_before_case_opened(
    app: App,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app.policy.limits, "max_attachments", 2)
    parts = [ParsedAttachment(f"{i}.txt", "text/plain", f"part {i}".encode()) for i in range(3)]
    with session_scope(app.db_url) as s:
        case = open_case(s, app, _mail(attachments=parts), _raw(s, "three"), AT)
        number = case.number
    with session_scope(app.db_url) as s:
        detail = case_detail(s, number)
    assert detail is not None
    assert [a["filename"] for a in detail["messages"][0]["attachments"]] == ["0.txt", "1.txt"]
    assert [(e["kind"], e["actor"], e["detail"]) for e in detail["events"]] == [
        (
            "attachments_not_filed",
            "system",
            {
                "filed": 2,
                "total": 3,
                "reason": "more than 2 attachments; the rest are in the original mail",
            },
        ),
        (
            "case_opened",
            LONG_ADDR[:64],
            {"message_id": LONG_ID, "charset_notes": ["gb2312 read as gb18030", UNCERTAIN]},
        ),
    ]


def test_a_follow_up_keeps_pending_events_first(
    app: App,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with session_scope(app.db_url) as s:
        case = open_case(s, app, _mail(attachments=[]), _raw(s, "four"), AT)
        number = case.number
    with session_scope(app.db_url) as s:
        case = s.get(Case, case.id)
        assert case is not None
        raw = _raw(s, "five")
        s.add(Event(raw_message_id=raw.id, case_id=case.id, kind="correlation_refused"))
        monkeypatch.setattr(
            app.policy.limits, "max_attachments", 1
        )  # its event is written right away
        parts = [ParsedAttachment(f"{i}.txt", "text/plain", b"x") for i in range(2)]
        filed = file_message(s, app, case, _mail(attachments=parts, subject="补充"), raw, "other")
        assert filed.id is not None
        s.add(Event(case_id=case.id, raw_message_id=raw.id, kind="mail_received"))
    with session_scope(app.db_url) as s:
        detail = case_detail(s, number)
    assert detail is not None
    assert [e["kind"] for e in detail["events"]] == [
        "case_opened",
        "correlation_refused",
        "attachments_not_filed",
        "mail_received",
    ]
    assert [(m["role"], m["subject"]) for m in detail["messages"]] == [
        ("complainant", "Re: 宽带断网"),
        ("other", "补充"),
    ]
