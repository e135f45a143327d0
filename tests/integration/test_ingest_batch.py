"""Batch ingest on PostgreSQL: many mails in one transaction, each in its own savepoint.

What an operator would see: every good mail of a batch becomes its case with its
acknowledgement queued; a mail that raises is left for the one-at-a-time path with its attempt
counted and its reason recorded, without taking its neighbours down; a batch delivered twice
creates nothing more; mails with an attempt behind them (their worker died) are never batched
again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from models.db import get_engine
from tests.faults import with_faults
from tests.integration.conftest import query
from tests.slow_mail import with_delay, with_time_limit
from tests.unit.test_hostile_mail import simple_mail, store
from workers import wiring
from workers.app import App
from workers.batches import together
from workers.intake import ingest
from workers.intake.ingest import IngestBatch

pytestmark = pytest.mark.integration

MARKER = "CDTEST-RAISE-batch"


@pytest.fixture
def pg_app(fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.setattr(ingest, "parse_mail", with_faults(ingest.parse_mail, raise_marker=MARKER))
    settings = Settings(
        database_url=fresh_db,
        broker_url="stub",
        attachments_dir=tmp_path / "att",
        outbox_dir=tmp_path / "outbox",
        intake_address="complaints@example.org",
        secret_key="batch-secret",
    )
    app = App.from_settings(settings)
    wiring.start(app)
    yield app
    wiring.stop()
    get_engine(fresh_db).dispose()


def complaint(i: int, extra: str = "") -> bytes:
    return simple_mail(
        f"user{i}@qq.com",
        f"宽带第{i}次断网",
        f"第{i}次投诉：宽带断网三天。\n{extra}",
        message_id=f"batch-{i}@qq.com",
    )


def cases(app: App) -> list[tuple[str, str]]:
    return [
        (number, email)
        for number, email in query(
            app.db_url, 'SELECT number, complainant_email FROM "case" ORDER BY id'
        )
    ]


def test_a_batch_makes_each_case_and_leaves_a_failing_mail_to_go_on_alone(pg_app: App) -> None:
    ids = [store(pg_app, complaint(i, MARKER if i == 3 else "")) for i in range(1, 6)]

    outcomes, one_by_one = together(IngestBatch(pg_app), ids)

    assert [o.disposition for o in outcomes] == ["case"] * 4
    assert one_by_one == [ids[2]]
    assert [email for _, email in cases(pg_app)] == [f"user{i}@qq.com" for i in (1, 2, 4, 5)]
    acks = query(
        pg_app.db_url,
        "SELECT to_addr FROM outbound_email WHERE kind = "
        "'acknowledgement' AND status = 'queued' ORDER BY id",
    )
    assert [a for (a,) in acks] == [f"user{i}@qq.com" for i in (1, 2, 4, 5)]
    raws = dict(
        (
            (i, (s, d, a, r))
            for i, s, d, a, r in query(
                pg_app.db_url, "SELECT id, status, disposition, attempts, reason FROM raw_message"
            )
        )
    )
    status, disposition, attempts, reason = raws[ids[2]]
    assert (status, disposition, attempts) == ("received", "pending", 1)
    assert reason.startswith("RuntimeError: test fault")
    assert all(raws[i][:3] == ("processed", "case", 1) for i in ids if i != ids[2])
    # Numbers come from short statements of their own: distinct, in order of the mails, and
    # without a gap although the batch ran twice (once together, once a savepoint per mail).
    numbers = [number for number, _ in cases(pg_app)]
    assert numbers == sorted(numbers) and len(set(numbers)) == 4
    sequence = [int(number.rsplit("-", 1)[1]) for number in numbers]
    ((last,),) = query(pg_app.db_url, "SELECT last FROM case_counter")  # a fresh database
    assert sequence == [1, 2, 3, 4] and last == 4


def test_a_batch_delivered_twice_makes_nothing_more(pg_app: App) -> None:
    ids = [store(pg_app, complaint(i)) for i in range(1, 4)]
    together(IngestBatch(pg_app), ids)

    outcomes, one_by_one = together(IngestBatch(pg_app), ids)  # the broker redelivers

    assert (outcomes, one_by_one) == ([], [])
    assert len(cases(pg_app)) == 3
    assert query(pg_app.db_url, "SELECT count(*) FROM outbound_email")[0][0] == 3
    assert query(pg_app.db_url, "SELECT max(attempts) FROM raw_message")[0][0] == 1


def test_mails_whose_worker_died_are_never_batched_again(pg_app: App) -> None:
    ids = [store(pg_app, complaint(i)) for i in range(1, 4)]
    # A worker counted the batch's attempts and was killed before committing anything.
    query(
        pg_app.db_url,
        "UPDATE raw_message SET attempts = 1 WHERE id = ANY(%s) RETURNING id",
        ids[:2],
    )

    outcomes, one_by_one = together(IngestBatch(pg_app), ids)

    assert one_by_one == ids[:2]  # each goes alone, behind the retry gate
    assert [o.disposition for o in outcomes] == ["case"]
    assert [email for _, email in cases(pg_app)] == ["user3@qq.com"]


def test_one_message_id_on_two_mails_of_a_batch_gives_two_cases_and_says_so(pg_app: App) -> None:
    first = simple_mail("a@qq.com", "宽带断网", "宽带断网三天。", message_id="reused@qq.com")
    second = simple_mail("b@qq.com", "电视没信号", "电视没有信号。", message_id="reused@qq.com")
    ids = [store(pg_app, first), store(pg_app, second)]

    outcomes, one_by_one = together(IngestBatch(pg_app), ids)

    assert [o.disposition for o in outcomes] == ["case", "case"] and one_by_one == []
    assert [email for _, email in cases(pg_app)] == ["a@qq.com", "b@qq.com"]
    logged = query(
        pg_app.db_url,
        "SELECT raw_message_id, detail->'other_raw_ids' FROM event "
        "WHERE kind = 'message_id_collision' ORDER BY raw_message_id",
    )
    assert [(raw_id, others) for raw_id, others in logged] == [
        (ids[0], [ids[1]]),
        (ids[1], [ids[0]]),
    ]


SLOW = "CDTEST-SLOW-batch"


def test_a_mail_past_its_time_budget_is_quarantined_and_its_batch_commits(
    pg_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 item 13: one slow mail in a PostgreSQL batch (one transaction) is interrupted
    at its own budget, rolled back alone and quarantined; its neighbours commit; it is not
    tried again in the batch's second pass nor sent on alone."""
    monkeypatch.setattr(ingest, "parse_mail", with_delay(ingest.parse_mail, SLOW, 5.0))
    ids = [store(pg_app, complaint(i, SLOW if i == 2 else "")) for i in range(1, 5)]
    stage = IngestBatch(pg_app)
    stage.item_seconds = 0.5

    outcomes, one_by_one = together(stage, ids)

    assert [o.disposition for o in outcomes] == ["case"] * 3
    assert one_by_one == []
    assert [email for _, email in cases(pg_app)] == [f"user{i}@qq.com" for i in (1, 3, 4)]
    rows = query(pg_app.db_url, "SELECT id, status, reason FROM raw_message ORDER BY id")
    assert [status for _, status, _ in rows] == [
        "processed",
        "quarantined",
        "processed",
        "processed",
    ]
    assert "time budget" in rows[1][2]


def test_the_message_time_limit_on_one_mail_of_a_batch_fails_that_mail_alone(
    pg_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "parse_mail", with_time_limit(ingest.parse_mail, SLOW))
    ids = [store(pg_app, complaint(i, SLOW if i == 2 else "")) for i in range(1, 5)]

    outcomes, one_by_one = together(IngestBatch(pg_app), ids)

    assert [o.disposition for o in outcomes] == ["case"] * 3
    assert one_by_one == [ids[1]]
