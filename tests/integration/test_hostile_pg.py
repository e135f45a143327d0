"""Hostile mail against PostgreSQL, which SQLite forgives: NUL in text, lone surrogates from raw
8-bit octets, values longer than their varchar column.

PostgreSQL rejects a NUL in any text value ("A string literal cannot contain NUL"), so this is
where a NUL that slipped through parsing would fail the ingest. Each test gets its own database
(create_pg_database, migrated, dropped afterwards) and runs the same store + ingest as the unit
tests in tests/unit/test_hostile_mail.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from config.settings import Settings
from models import Case
from models.db import get_engine, session_scope
from models.migrate import upgrade
from tests.servers import create_pg_database, drop_pg_database, pg_available, require_server
from tests.unit.test_hostile_mail import (
    ALL_FIXTURES,
    DISPOSITIONS,
    NUL_MAILS,
    case_row,
    fixture,
    incoming,
    nul_sender_mail,
    outbox,
    raw_row,
    receive,
    simple_mail,
    store,
    text_values,
)
from workers import wiring
from workers.app import App
from workers.batches import together
from workers.intake.ingest import IngestBatch


@pytest.fixture
def pg_app(tmp_path: Path) -> Iterator[App]:
    problem = pg_available()
    if problem is not None:
        require_server("postgresql", f"cannot connect as admin: {problem}")
    url = create_pg_database(prefix="cdhostile")
    try:
        upgrade(url)
        settings = Settings(
            database_url=url,
            broker_url="stub",
            attachments_dir=tmp_path / "att",
            outbox_dir=tmp_path / "outbox",
            intake_address="complaints@example.org",
            secret_key="pg-hostile-secret",
        )
        app = App.from_settings(settings)
        wiring.start(app)
        yield app
    finally:
        wiring.stop()
        get_engine(url).dispose()
        drop_pg_database(url)


def assert_no_nul(app: App) -> None:
    assert [column for column, value in text_values(app) if "\x00" in value] == []


def octets_mail() -> bytes:
    """Raw 8-bit octets that are no UTF-8 in the Message-ID, a charset label, a content type and
    a filename: decoded carelessly they become lone surrogates, which PostgreSQL cannot store."""
    return (
        b"From: octets@example.net\r\nTo: complaints@example.org\r\nSubject: \xff\xfe\r\n"
        b"Message-ID: <oct\xffets@example.net>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="o"\r\n\r\n'
        b'--o\r\nContent-Type: text/plain; charset="gb\xff2312"\r\n\r\n\xc4\xe3\xba\xc3\r\n'
        b"--o\r\nContent-Type: application/x\xffy\r\n"
        b'Content-Disposition: attachment; filename="a\xffb.bin"\r\n\r\nxx\r\n--o--\r\n'
    )


def long_values_mail() -> bytes:
    """Every field longer than its column: a 64-character local part (the RFC 5321 maximum)
    in a 100-character address, a 300-character name, a 950-character Message-ID."""
    sender = f"{'n' * 300} <{'a' * 64}@{'sub.' * 8}example.net>"
    return simple_mail(sender, "宽带投诉" * 500, "断网\n", message_id=f"{'m' * 940}@example.net")


GENERATED = {"nul_sender": nul_sender_mail, "octets": octets_mail, "long_values": long_values_mail}


@pytest.mark.parametrize("name", NUL_MAILS)
def test_nul_fixtures_reach_postgresql_without_nul(pg_app: App, name: str) -> None:
    raw_id, outcome = receive(pg_app, fixture(name))
    assert outcome.disposition == "case"
    case, message = case_row(pg_app, outcome.case_id), incoming(pg_app, raw_id)
    assert "\x00" not in case.subject + message.body_text + message.from_name
    assert raw_row(pg_app, raw_id).raw == fixture(name)  # bytea keeps the NULs of the mail
    assert_no_nul(pg_app)


@pytest.mark.parametrize("name", GENERATED)
def test_strange_values_are_stored_in_postgresql(pg_app: App, name: str) -> None:
    data = GENERATED[name]()
    raw_id, outcome = receive(pg_app, data)
    row = raw_row(pg_app, raw_id)
    assert row.raw == data and row.disposition in DISPOSITIONS
    assert row.case_id is not None if row.disposition == "case" else row.reason
    assert_no_nul(pg_app)
    assert store(pg_app, data) is None


def test_every_fixture_goes_through_postgresql(pg_app: App) -> None:
    # One database for all: the fixtures then also meet each other (replies, reused ids).
    for name in ALL_FIXTURES:
        raw_id, outcome = receive(pg_app, fixture(name))
        assert raw_row(pg_app, raw_id).disposition in DISPOSITIONS, name
    assert_no_nul(pg_app)
    assert all(row.to_addr for row in outbox(pg_app))


def test_storm_from_one_sender_in_parallel_batches_gets_at_most_the_cap(pg_app: App) -> None:
    # Four workers' batches in flight at once, each full of mail from one auto-responder: each
    # transaction sees only committed rows, so without a per-address lock each would add the
    # cap on its own.
    cap = pg_app.policy.limits.max_auto_replies_per_sender_per_hour
    raw_ids = [
        store(
            pg_app,
            simple_mail(
                "storm@example.net",
                f"complaint {i}",
                f"broadband down {i}\n",
                message_id=f"storm{i}@x.net",
            ),
        )
        for i in range(40)
    ]
    batches = [raw_ids[i::4] for i in range(4)]
    start = threading.Barrier(len(batches))

    def run(batch: list[int | None]) -> None:
        start.wait()
        outcomes, left = together(IngestBatch(pg_app), [int(r) for r in batch if r is not None])
        assert left == [] and len(outcomes) == len(batch)

    with ThreadPoolExecutor(len(batches)) as pool:
        list(pool.map(run, batches))
    assert len(outbox(pg_app, "storm@example.net")) == cap
    with session_scope(pg_app.db_url) as s:
        assert s.execute(select(func.count()).select_from(Case)).scalar_one() == 40
