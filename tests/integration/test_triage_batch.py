"""Classify and route a batch in one PostgreSQL transaction (workers.batches.together): the
same categories, owners and mails as one case at a time, and a case that raises rolls back
alone while its neighbours go on. SQLite never takes this path, so it is tested here."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from config.settings import Settings
from models.db import get_engine, session_scope
from models.migrate import upgrade
from tests.mailgen import complaints
from tests.servers import create_pg_database, drop_pg_database, pg_available, require_server
from workers import wiring
from workers.app import App
from workers.batches import together
from workers.intake.ingest import IngestBatch
from workers.intake.poller import store_batch
from workers.triage import classify_case as classify_stage
from workers.triage import route_case as route_stage
from workers.triage.classify_case import ClassifyBatch
from workers.triage.route_case import RouteBatch

pytestmark = pytest.mark.integration
MAILS = complaints(30, seed=77)


@pytest.fixture
def make_app() -> Iterator:
    made: list[str] = []

    def make() -> App:
        problem = pg_available()
        if problem is not None:
            require_server("postgresql", f"cannot connect as admin: {problem}")
        url = create_pg_database(prefix="cdtriage")
        made.append(url)
        upgrade(url)
        workdir = Path(tempfile.mkdtemp(prefix="cdtriage-"))
        app = App.from_settings(
            Settings(
                database_url=url,
                broker_url="stub",
                attachments_dir=workdir / "att",
                outbox_dir=workdir / "outbox",
                intake_address="complaints@example.org",
                secret_key="triage-secret",
            )
        )
        wiring.start(app)
        return app

    yield make
    wiring.stop()
    for url in made:
        get_engine(url).dispose()
        drop_pg_database(url)


def ingested(app: App) -> list[int]:
    ids = store_batch(app, "INBOX", 1, {i + 1: m.raw for i, m in enumerate(MAILS)})
    outcomes, left = together(IngestBatch(app), ids)
    assert left == []
    return [o.case_id for o in outcomes if o.new_case and o.case_id is not None]


def outcome(app: App) -> tuple[list, list]:
    """What a user sees: each case's category, severity and owner, and who got which mail."""
    with session_scope(app.db_url) as s:
        cases = s.execute(
            text(
                'SELECT number, category, severity, assigned_group, assignee FROM "case" '
                "ORDER BY number"
            )
        ).all()
        mails = s.execute(
            text(
                'SELECT c.number, o.kind, o.to_addr FROM outbound_email o JOIN "case" c '
                "ON c.id = o.case_id ORDER BY c.number, o.kind, o.to_addr"
            )
        ).all()
    return [tuple(r) for r in cases], [tuple(r) for r in mails]


def test_a_batch_gives_what_one_case_at_a_time_gives(make_app) -> None:
    batched, single = make_app(), make_app()
    batch_cases = ingested(batched)
    classified, failed = together(ClassifyBatch(batched, None), batch_cases)
    assert (classified, failed) == (batch_cases, [])
    _, failed = together(RouteBatch(batched), classified)
    assert failed == []

    for case_id in ingested(single):
        assert classify_stage.classify_stored(single, case_id, None)
        route_stage.route_stored(single, case_id)

    cases, mails = outcome(batched)
    assert (cases, mails) == outcome(single)
    assert all(assignee for *_, assignee in cases)
    assert {kind for _, kind, _ in mails} >= {"acknowledgement", "staff_notification"}


def test_a_case_that_raises_rolls_back_alone_and_a_rerun_adds_nothing(
    make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    cases = ingested(app)
    bad_classify, bad_route = cases[3], cases[5]

    def failing(real, bad: int):
        def call(session, app_, case, *args):
            done = real(session, app_, case, *args)
            session.flush()  # its rows are written: the savepoint must take them back
            if case.id == bad:
                raise RuntimeError("a bug that one case trips")
            return done

        return call

    monkeypatch.setattr(classify_stage, "store", failing(classify_stage.store, bad_classify))
    classified, failed = together(ClassifyBatch(app, None), cases)
    assert failed == [bad_classify] and classified == [c for c in cases if c != bad_classify]
    monkeypatch.undo()
    assert classify_stage.classify_stored(app, bad_classify, None)  # on its own, it passes

    monkeypatch.setattr(
        route_stage,
        "queue_owner_notifications",
        failing(route_stage.queue_owner_notifications, bad_route),
    )
    _, failed = together(RouteBatch(app), cases)
    assert failed == [bad_route]
    monkeypatch.undo()
    route_stage.route_stored(app, bad_route)

    before = outcome(app)
    together(RouteBatch(app), cases)  # a redelivered batch
    assert outcome(app) == before
    with session_scope(app.db_url) as s:
        kinds = dict(
            s.execute(
                text(
                    "SELECT kind, count(*) FROM event WHERE kind IN ('classified', 'assigned') "
                    "GROUP BY kind"
                )
            ).all()
        )
        per_case = s.execute(
            text(
                "SELECT count(DISTINCT case_id), count(*) FROM outbound_email "
                "WHERE kind = 'staff_notification'"
            )
        ).one()
    assert kinds == {"classified": len(cases), "assigned": len(cases)}
    assert per_case[0] == len(cases) and all(a for *_, a in before[0])
