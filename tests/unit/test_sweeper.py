"""Sweeper: committed work whose enqueue was lost is enqueued again, and finishes once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

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
