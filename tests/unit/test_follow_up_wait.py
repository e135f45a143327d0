"""A follow-up waits for its first mail while that one is stored but not ingested (issue 11
item 1), and every wait ends: stage tests on SQLite."""

from __future__ import annotations

from sqlalchemy import select

from models import RawMessage
from models.db import session_scope
from tests.unit.test_hostile_mail import raw_row, simple_mail, store
from workers.app import App
from workers.intake.ingest import ingest


def _reply(sender: str, mid: str, to: str) -> bytes:
    return simple_mail(
        sender,
        "Re: 宽带断网",
        "补充。",
        f"In-Reply-To: <{to}>",
        f"References: <{to}>",
        message_id=mid,
    )


def _received(app: App) -> list[int]:
    with session_scope(app.db_url) as s:
        stmt = select(RawMessage.id).where(RawMessage.status == "received")
        return list(s.execute(stmt).scalars())


def test_a_follow_up_ingested_before_its_first_mail_waits_and_then_joins_its_case(
    app: App,
) -> None:
    second = store(app, _reply("a@qq.com", "two@qq.com", "one@qq.com"))
    first = store(app, simple_mail("a@qq.com", "宽带断网", "断网三天。", message_id="one@qq.com"))
    assert second is not None and first is not None

    waiting = ingest(app, second)
    assert waiting.waits == second and waiting.wait_ms == 2000 and waiting.outbound_ids == []
    row = raw_row(app, second)
    assert (row.status, row.attempts) == ("received", 0)  # a wait is no failed attempt
    assert row.reason and row.reason.startswith(f"waits for raw message {first}")

    opened = ingest(app, first)
    joined = ingest(app, second)
    assert opened.new_case and joined.disposition == "follow_up"
    assert joined.case_id == opened.case_id


def test_two_mails_naming_each_other_do_not_wait_for_each_other_for_ever(app: App) -> None:
    a = store(app, _reply("x@qq.com", "a@qq.com", "b@qq.com"))
    b = store(app, _reply("x@qq.com", "b@qq.com", "a@qq.com"))
    for _ in range(3):
        for raw_id in _received(app):
            ingest(app, raw_id)
    assert _received(app) == []
    assert {raw_row(app, i).disposition for i in (a, b)} == {"case", "follow_up"}  # type: ignore[arg-type]


def test_a_wait_ends_at_the_policy_limit(app: App) -> None:
    follow_up = store(app, _reply("c@qq.com", "f@qq.com", "lost@qq.com"))
    lost = store(app, simple_mail("c@qq.com", "宽带断网", "断网。", message_id="lost@qq.com"))
    assert follow_up is not None and lost is not None
    waits = 0
    while ingest(app, follow_up).waits is not None:  # the mail it answers never comes
        waits += 1
        assert waits < 40
    limit_ms = app.policy.limits.follow_up_wait_seconds * 1000
    assert raw_row(app, follow_up).disposition == "case" and 10 < waits < 40
    assert limit_ms > 0
