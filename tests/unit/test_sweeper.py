"""Sweeper: committed work whose enqueue was lost is enqueued again, and finishes once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select, update

from models import Case, Event, OutboundEmail, RawMessage
from models.db import session_scope
from workers.app import App
from workers.intake.folder_inbox import import_folder
from workers.intake.ingest import ingest
from workers.sweeper import sweep

DEMO = Path(__file__).resolve().parent.parent / "fixtures" / "demo_inbox"


def test_lost_enqueues_of_mail_replies_and_routing_are_recovered(app: App, drain) -> None:
    # Stored but never enqueued (the broker lost it): nothing happens until the sweeper runs.
    ids = import_folder(app, DEMO)
    ingest(app, ids[0])  # ingested in-line: its ack row and its routing were never enqueued
    result = sweep(app, grace=0)
    assert sorted(result.raw_ids) == sorted(ids[1:])
    assert len(result.outbound_ids) == 1 and len(result.case_ids) == 1
    drain()
    with session_scope(app.db_url) as s:
        pending = s.execute(
            select(func.count()).select_from(RawMessage).where(RawMessage.status == "received")
        ).scalar_one()
        queued = s.execute(
            select(func.count()).select_from(OutboundEmail).where(OutboundEmail.status == "queued")
        ).scalar_one()
        cases = s.execute(select(func.count()).select_from(Case)).scalar_one()
        routed = s.execute(
            select(func.count(func.distinct(Event.case_id))).where(Event.kind == "assigned")
        ).scalar_one()
    assert pending == 0 and queued == 0 and cases == 10 and routed == 10
    # A second sweep finds nothing left to do, so nothing is sent twice.
    again = sweep(app, grace=0)
    assert again.raw_ids == [] and again.outbound_ids == [] and again.case_ids == []


def test_rows_inside_the_grace_period_are_left_alone(app: App) -> None:
    import_folder(app, DEMO)
    assert sweep(app, grace=3600).raw_ids == []


def test_a_row_swept_too_often_is_given_up_not_re_sent_for_ever(app: App, stub_broker) -> None:
    """Issue 11 item 13: a mail, a reply and a case that never finish (the worker dies on them,
    a time limit strikes every time) are enqueued again max_sweeps times, then given up."""
    from datetime import timedelta

    from models.types import utcnow

    app.policy.limits.max_sweeps = 3
    ids = import_folder(app, DEMO)[:2]
    ingest(app, ids[0])  # its acknowledgement is queued and its case never routed
    with session_scope(app.db_url) as s:
        s.execute(update(RawMessage).where(RawMessage.id != ids[1]).values(status="processed"))
    for _ in range(3):
        result = sweep(app, grace=0)
        assert result.raw_ids == [ids[1]] and len(result.outbound_ids) == 1
        assert len(result.case_ids) == 1 and result.given_up == []
    stub_broker.flush_all()  # the workers never finish any of it
    last = sweep(app, grace=0)
    assert last.raw_ids == [] and last.outbound_ids == [] and last.case_ids == []
    assert sorted(w.split()[0] for w in last.given_up) == ["case", "outbound_email", "raw_message"]
    with session_scope(app.db_url) as s:
        raw = s.get(RawMessage, ids[1])
        assert raw.status == "quarantined" and "sweeper" in raw.reason
        reply = s.execute(select(OutboundEmail)).scalars().one()
        assert reply.status == "failed" and "sweeper" in reply.last_error
        events = s.execute(select(Event.kind).where(Event.kind == "routing_given_up")).all()
        assert len(events) == 1
        # Backed off: a row swept twice waits 4 x the grace after its last enqueue.
        s.execute(
            update(RawMessage)
            .where(RawMessage.id == ids[1])
            .values(status="received", sweeps=2, enqueued_at=utcnow() - timedelta(seconds=200))
        )
    again = sweep(app, grace=60)
    assert again.raw_ids == [] and again.given_up == []  # given up once only, and not due yet
    with session_scope(app.db_url) as s:
        s.execute(
            update(RawMessage)
            .where(RawMessage.id == ids[1])
            .values(enqueued_at=utcnow() - timedelta(seconds=241))
        )
    assert sweep(app, grace=60).raw_ids == [ids[1]]


def test_due_again_waits_twice_as_long_each_time() -> None:
    from datetime import datetime, timedelta

    from workers.sweeper import due_again

    now = datetime(2026, 12, 4, 12, 0)
    assert due_again(0, None, now, 60)
    assert due_again(0, now - timedelta(seconds=61), now, 60)
    assert not due_again(1, now - timedelta(seconds=61), now, 60)
    assert due_again(1, now - timedelta(seconds=121), now, 60)
    assert not due_again(10, now - timedelta(hours=17), now, 60)
    assert due_again(10, now - timedelta(hours=18), now, 60)
