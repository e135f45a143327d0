"""Threads and locks at intake on PostgreSQL (issue 11 items 1, 6 and 11).

What a user would see: a complainant who answers their own complaint seconds later gets one
case and one acknowledgement, whatever the order of the two mails in a batch and whichever
worker thread takes which; a stranger who reuses their Message-ID cannot pull their follow-up
into another case; and parallel batches over the same senders never deadlock (no batch falls
back to a savepoint per mail).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from models.db import get_engine
from tests.integration.conftest import SECRET, query
from tests.unit.test_hostile_mail import simple_mail, store
from workers import wiring
from workers.app import App
from workers.batches import together
from workers.intake.ingest import IngestBatch, ingest

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_app(fresh_db: str, tmp_path: Path) -> Iterator[App]:
    settings = Settings(
        database_url=fresh_db,
        broker_url="stub",
        attachments_dir=tmp_path / "att",
        outbox_dir=tmp_path / "outbox",
        intake_address="complaints@example.org",
        secret_key=SECRET,
    )
    app = App.from_settings(settings)
    wiring.start(app)
    yield app
    wiring.stop()
    get_engine(fresh_db).dispose()


def complaint(sender: str, n: int = 0) -> bytes:
    return simple_mail(
        sender, f"宽带断网 {n}", "宽带断网三天了，请尽快处理。", message_id=f"first{n}.{sender}"
    )


def follow_up(sender: str, n: int = 0) -> bytes:
    first = f"<first{n}.{sender}>"
    return simple_mail(
        sender,
        f"Re: 宽带断网 {n}",
        "补充：路由器灯一直闪红。",
        f"In-Reply-To: {first}",
        f"References: {first}",
        message_id=f"second{n}.{sender}",
    )


def at_once(*jobs: Callable[[], object]) -> None:
    """Run the jobs in threads that start together; re-raise the first error."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        barrier.wait()
        try:
            job()
        except BaseException as e:  # pragma: no cover - shown by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors


def drain_waiting(app: App) -> None:
    """What the delayed one-mail actor does for mails left `received` (a follow-up waiting
    for its first mail): ingest each on its own until none is left."""
    for _ in range(5):
        waiting = [
            i
            for (i,) in query(
                app.db_url, "SELECT id FROM raw_message WHERE status = 'received' ORDER BY id"
            )
        ]
        if not waiting:
            return
        for raw_id in waiting:
            ingest(app, raw_id)
    raise AssertionError(f"mails still waiting: {waiting}")


def threads_by_sender(app: App) -> dict[str, tuple[int, int, list[str]]]:
    """sender -> (cases, acknowledgements, dispositions of their mails in id order)."""
    cases = dict(query(app.db_url, 'SELECT complainant_email, count(*) FROM "case" GROUP BY 1'))
    acks = dict(
        query(
            app.db_url,
            "SELECT to_addr, count(*) FROM outbound_email WHERE kind = 'acknowledgement' GROUP BY 1",
        )
    )
    result: dict[str, tuple[int, int, list[str]]] = {}
    for sender in cases:
        dispositions = [
            d
            for (d,) in query(
                app.db_url,
                "SELECT r.disposition FROM raw_message r JOIN message m ON m.raw_message_id = r.id "
                "WHERE m.from_addr = %s ORDER BY r.id",
                sender,
            )
        ]
        result[sender] = (cases[sender], acks.get(sender, 0), dispositions)
    return result


def one_case_each(app: App, senders: list[str]) -> None:
    seen = threads_by_sender(app)
    assert sorted(seen) == sorted(senders)
    for sender in senders:
        cases, acks, dispositions = seen[sender]
        assert (cases, acks) == (1, 1), (sender, seen[sender])
        assert sorted(dispositions) == ["case", "follow_up"], (sender, seen[sender])
    ((stray,),) = query(app.db_url, "SELECT count(*) FROM raw_message WHERE case_id IS NULL")
    assert stray == 0


# --- item 1: a quick follow-up lands on its complaint's case -------------------------------------


@pytest.mark.parametrize("follow_up_first", [False, True])
def test_a_follow_up_in_the_same_batch_lands_on_its_case(
    pg_app: App, follow_up_first: bool
) -> None:
    mails = [complaint("lihua@qq.com"), follow_up("lihua@qq.com")]
    ids = [store(pg_app, mail) for mail in (mails[::-1] if follow_up_first else mails)]

    together(IngestBatch(pg_app), ids)
    drain_waiting(pg_app)

    one_case_each(pg_app, ["lihua@qq.com"])


def test_a_follow_up_taken_by_another_batch_at_once_lands_on_its_case(pg_app: App) -> None:
    senders = [f"user{i}@qq.com" for i in range(8)]
    firsts, seconds = [], []
    for i, sender in enumerate(senders):
        # Half of the follow-ups were stored before their complaint (a backlog, two folders).
        pair = [complaint(sender), follow_up(sender)]
        a, b = (store(pg_app, m) for m in (pair if i % 2 else pair[::-1]))
        firsts.append(a if i % 2 else b)
        seconds.append(b if i % 2 else a)

    at_once(
        lambda: together(IngestBatch(pg_app), firsts),
        lambda: together(IngestBatch(pg_app), seconds),
    )
    drain_waiting(pg_app)

    one_case_each(pg_app, senders)


def test_two_worker_threads_taking_one_mail_each(pg_app: App) -> None:
    senders = [f"solo{i}@163.com" for i in range(6)]
    pairs = [(store(pg_app, complaint(s)), store(pg_app, follow_up(s))) for s in senders]

    for first, second in pairs:
        at_once(lambda f=first: ingest(pg_app, f), lambda s=second: ingest(pg_app, s))
    drain_waiting(pg_app)

    one_case_each(pg_app, senders)


# --- item 11: a reused Message-ID does not capture someone else's thread -------------------------


def test_a_reused_message_id_does_not_pull_a_follow_up_into_the_forgers_case(pg_app: App) -> None:
    victim, forger = "victim@qq.com", "forger@evil.example"
    ingest(pg_app, store(pg_app, complaint(victim)))
    forged = simple_mail(
        forger,
        "我也要投诉",
        "转移视线。",
        message_id=f"first0.{victim}",  # the victim's Message-ID
    )
    ingest(pg_app, store(pg_app, forged))

    ingest(pg_app, store(pg_app, follow_up(victim)))

    rows = query(
        pg_app.db_url,
        'SELECT c.complainant_email, count(m.id) FROM "case" c JOIN message m ON m.case_id = c.id '
        "WHERE m.direction = 'in' GROUP BY 1 ORDER BY 1",
    )
    assert rows == [(forger, 1), (victim, 2)]


# --- item 6: parallel batches take their locks in one order -------------------------------------


def test_parallel_batches_over_the_same_senders_never_deadlock(
    pg_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    for round_ in range(6):
        a, b = f"a{round_}@qq.com", f"b{round_}@qq.com"
        ids = [
            store(
                pg_app,
                simple_mail(sender, f"投诉{round_}-{n}", "宽带断网。", message_id=f"{n}.{sender}"),
            )
            for n, sender in enumerate((a, b, b, a))
        ]
        # Each batch in id order: one meets a then b, the other b then a.
        at_once(
            lambda first=ids[:2]: together(IngestBatch(pg_app), first),
            lambda second=ids[2:]: together(IngestBatch(pg_app), second),
        )
    fallbacks = [r.getMessage() for r in caplog.records if "savepoint per item" in r.getMessage()]
    assert fallbacks == []
    ((acks,),) = query(pg_app.db_url, "SELECT count(*) FROM outbound_email")
    assert acks == 6 * 4
