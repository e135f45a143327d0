"""One slow mail never fails its batch (issue 11 item 13): it runs past its own time budget,
is quarantined with the reason and never tried again, and its neighbours go on. Dramatiq's time
limit striking one mail of a batch fails that mail alone. SQLite (item by item); the batch in
one PostgreSQL transaction: tests/integration/test_ingest_batch.py.
"""

from __future__ import annotations

import dramatiq
import pytest
from sqlalchemy import select

from models import RawMessage
from models.db import session_scope
from tests.slow_mail import with_delay, with_time_limit
from tests.unit.test_hostile_mail import simple_mail, store
from workers.app import App
from workers.batches import run_batch
from workers.intake import ingest
from workers.intake.ingest import IngestBatch

SLOW = "CDTEST-SLOW-mail"


def mails(app: App, marked: int) -> list[int]:
    ids = []
    for i in range(1, 4):
        body = f"第{i}次投诉：宽带断网三天。\n{SLOW if i == marked else ''}"
        raw_id = store(app, simple_mail(f"user{i}@qq.com", f"宽带{i}", body, message_id=f"s{i}@q"))
        assert raw_id is not None
        ids.append(raw_id)
    return ids


def rows(app: App) -> list[tuple[str, str | None]]:
    with session_scope(app.db_url) as s:
        found = s.execute(select(RawMessage).order_by(RawMessage.id)).scalars()
        return [(r.status, r.reason) for r in found]


def queued_alone(broker: dramatiq.Broker) -> list[int]:
    messages = [m for name in ("ingest", "ingest.DQ") for m in broker.queues.get(name).queue]
    return [
        m.args[0]
        for m in (dramatiq.Message.decode(raw) for raw in messages)
        if m.actor_name == "ingest_message"
    ]


def test_a_mail_past_its_time_budget_is_quarantined_and_its_batch_goes_on(
    app: App, stub_broker: dramatiq.Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "parse_mail", with_delay(ingest.parse_mail, SLOW, 5.0))
    ids = mails(app, marked=2)
    stage = IngestBatch(app)
    stage.item_seconds = 0.5

    run_batch(stage, ids)

    (s1, _), (s2, reason), (s3, _) = rows(app)
    assert (s1, s2, s3) == ("processed", "quarantined", "processed")
    assert reason is not None and "time budget" in reason
    assert queued_alone(stub_broker) == []  # given up, not tried again on its own


def test_the_message_time_limit_on_one_mail_fails_that_mail_alone(
    app: App, stub_broker: dramatiq.Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "parse_mail", with_time_limit(ingest.parse_mail, SLOW))
    ids = mails(app, marked=2)

    run_batch(IngestBatch(app), ids)

    statuses = [status for status, _ in rows(app)]
    assert statuses == ["processed", "received", "processed"]
    assert queued_alone(stub_broker) == [ids[1]]  # its neighbours made it slow, maybe
