"""The poller against a real Dovecot and PostgreSQL: every mail stored once, marked only after
its row is committed, the server's \\Seen flag left alone, UIDVALIDITY changes survived."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import dramatiq
import psycopg
import pytest
import redis
from sqlalchemy.exc import OperationalError

from config.settings import Settings
from models.db import get_engine, session_scope
from tests.integration.conftest import Stack, libpq_url, query, scalar
from tests.mailgen import complaint, complaints
from workers.app import App
from workers.broker import build_broker
from workers.intake.fetched import MAX_UNREADABLE
from workers.intake.poller import Poller, mailbox_key, store_batch
from workers.intake.raw_store import Incoming, store_many

pytestmark = pytest.mark.integration

KEYWORD = b"$ComplaintdeskImported"

NO_MESSAGE_ID = (
    "From: =?UTF-8?B?5p2O5Zub?= <lisi@example.cn>\r\n"
    "To: complaints@example.org\r\n"
    "Subject: =?UTF-8?B?5rKh5pyJTWVzc2FnZS1JROeahOaKleiviQ==?=\r\n"
    "Date: Tue, 03 Mar 2026 10:00:00 +0800\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "我的手机客户端发信时不带 Message-ID，请照样受理。\r\n"
).encode()


def server_flags(stack: Stack, folder: str = "INBOX") -> dict[int, set[bytes]]:
    with stack.mailbox.client() as imap:
        imap.select_folder(folder, readonly=True)
        uids = imap.search()
        return (
            {uid: set(d[b"FLAGS"]) for uid, d in imap.fetch(uids, ["FLAGS"]).items()}
            if uids
            else {}
        )


def server_bodies(stack: Stack, folder: str) -> list[bytes]:
    with stack.mailbox.client() as imap:
        imap.select_folder(folder, readonly=True)
        uids = imap.search()
        return [d[b"BODY[]"] for d in imap.fetch(uids, ["BODY.PEEK[]"]).values()] if uids else []


def raw_rows(stack: Stack) -> list[tuple[int, bytes]]:
    return [
        (row_id, bytes(raw))
        for row_id, raw in query(stack.db_url, "SELECT id, raw FROM raw_message ORDER BY id")
    ]


def poll_once(stack: Stack) -> tuple[int, list[int]]:
    enqueued: list[int] = []
    stored = Poller(stack.app(), enqueued.extend).run(once=True)
    return stored, enqueued


def queued_for_ingest(stack: Stack) -> list[list[int]]:
    """The raw row ids of each ingest_batch message waiting on the broker."""
    with redis.Redis.from_url(stack.redis_url) as client:
        messages = [json.loads(m) for m in client.hvals("dramatiq:ingest.msgs")]
    assert {m["actor_name"] for m in messages} <= {"ingest_batch"}
    return sorted(m["args"][0] for m in messages)


def test_poller_once_stores_each_mail_flags_it_and_leaves_seen_alone(stack: Stack) -> None:
    mails = complaints(4, seed=11)
    with stack.mailbox.client() as imap:
        for i, mail in enumerate(mails):
            # The operator already read the last one in a mail client: it must stay read.
            imap.append("INBOX", mail.raw, flags=[b"\\Seen"] if i == 3 else [])

    done = stack.cli("poller", "--once")

    assert "stored 4 new mails" in done.stdout
    assert [raw for _, raw in raw_rows(stack)] == [m.raw for m in mails]  # byte for byte
    flags = server_flags(stack)
    assert all(KEYWORD in f for f in flags.values()), flags
    assert [b"\\Seen" in flags[uid] for uid in sorted(flags)] == [False, False, False, True]
    # Each stored mail is on the broker for ingest, by row id, in one batch message.
    assert queued_for_ingest(stack) == [[row_id for row_id, _ in raw_rows(stack)]]
    listed = stack.cli_json("mail", "list")
    assert [(m["message_id"], m["disposition"]) for m in listed] == [
        (m.message_id, "pending") for m in mails
    ]

    # A second run imports only what arrived since.
    late = complaint(99, seed=11)
    stack.mailbox.append(late.raw)
    assert poll_once(stack)[0] == 1
    assert poll_once(stack) == (0, [])
    assert [raw for _, raw in raw_rows(stack)] == [m.raw for m in mails] + [late.raw]
    assert all(KEYWORD in f for f in server_flags(stack).values())


def test_processed_mailbox_receives_imported_mail(stack: Stack) -> None:
    stack.overrides["imap"] = {"processed_mailbox": "Processed"}
    mails = complaints(3, seed=12)
    stack.append_all([m.raw for m in mails])

    stored, enqueued = poll_once(stack)

    assert stored == 3
    assert enqueued == [row_id for row_id, _ in raw_rows(stack)]
    assert server_bodies(stack, "INBOX") == []
    assert sorted(server_bodies(stack, "Processed")) == sorted(m.raw for m in mails)
    assert all(b"\\Seen" not in f for f in server_flags(stack, "Processed").values())
    assert poll_once(stack) == (0, [])
    assert len(raw_rows(stack)) == 3


def test_nothing_is_marked_when_the_commit_fails(stack: Stack) -> None:
    """The database refuses the batch at COMMIT: the poller fails and the server is untouched,
    so the next run, with the database healthy, imports every mail."""
    mails = complaints(3, seed=13)
    stack.append_all([m.raw for m in mails])
    # A deferred constraint trigger fails at COMMIT, after the rows were inserted: the last
    # moment at which a poller that marks too early would already have marked.
    with psycopg.connect(libpq_url(stack.db_url), autocommit=True) as conn:
        conn.execute("""
            CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'disk full (test)'; END $$;
            CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON raw_message
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit();""")

    failed = stack.cli("poller", "--once", check=False)

    assert failed.returncode != 0
    assert "disk full (test)" in failed.stderr
    assert raw_rows(stack) == []
    assert all(KEYWORD not in f for f in server_flags(stack).values())

    with psycopg.connect(libpq_url(stack.db_url), autocommit=True) as conn:
        conn.execute("DROP TRIGGER refuse_commit ON raw_message")
    assert poll_once(stack)[0] == 3
    assert all(KEYWORD in f for f in server_flags(stack).values())


def test_nothing_is_marked_when_the_database_is_unreachable(stack: Stack) -> None:
    stack.append_all([m.raw for m in complaints(2, seed=14)])
    stack.overrides["database_url"] = stack.db_url.rsplit("/", 1)[0] + "/no_such_database"

    with pytest.raises(OperationalError):
        poll_once(stack)

    assert all(KEYWORD not in f for f in server_flags(stack).values())


def test_mail_is_marked_only_after_it_was_enqueued(stack: Stack) -> None:
    """The broker refuses the enqueue: rows are committed but the mail stays unmarked; the next
    run marks it without storing it again, and `complaintdesk sweep` puts the rows on the
    broker."""
    mails = complaints(2, seed=15)
    stack.append_all([m.raw for m in mails])
    dead = build_broker("redis://127.0.0.1:1/0")  # a real Redis client; nothing listens there

    def enqueue(ids: list[int]) -> None:
        for raw_id in ids:
            dead.enqueue(
                dramatiq.Message(
                    queue_name="ingest",
                    actor_name="ingest_message",
                    args=(raw_id,),
                    kwargs={},
                    options={},
                )
            )

    with pytest.raises(redis.ConnectionError):
        Poller(stack.app(), enqueue).run(once=True)

    assert len(raw_rows(stack)) == 2  # committed before the enqueue was tried
    assert all(KEYWORD not in f for f in server_flags(stack).values())

    assert poll_once(stack) == (0, [])
    assert all(KEYWORD in f for f in server_flags(stack).values())
    assert "re-enqueued 2 mails" in stack.cli("sweep").stdout
    assert queued_for_ingest(stack) == [[row_id for row_id, _ in raw_rows(stack)]]


def test_uidvalidity_change_imports_nothing_twice(stack: Stack) -> None:
    stack.overrides["imap"] = {"mailbox": "Intake"}
    raws = [m.raw for m in complaints(3, seed=16)] + [NO_MESSAGE_ID]
    with stack.mailbox.client() as imap:
        imap.create_folder("Intake")
        before = imap.folder_status("Intake", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    stack.append_all(raws, "Intake")
    assert poll_once(stack)[0] == 4

    # The server loses its index: the folder comes back with a new UIDVALIDITY and the same
    # mail under new UIDs (RFC 3501 2.3.1.1).
    with stack.mailbox.client() as imap:
        imap.delete_folder("Intake")
        imap.create_folder("Intake")
        after = imap.folder_status("Intake", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    assert after != before
    stack.append_all(raws, "Intake")

    assert poll_once(stack) == (0, [])

    assert len(raw_rows(stack)) == 4
    resyncs = query(stack.db_url, "SELECT detail FROM event WHERE kind = 'mailbox_resync'")
    assert len(resyncs) == 1
    assert resyncs[0][0]["old_uidvalidity"] == before
    assert resyncs[0][0]["new_uidvalidity"] == after
    assert (
        scalar(
            stack.db_url,
            "SELECT uidvalidity FROM mailbox_cursor WHERE mailbox = %s",
            mailbox_key(stack.settings().imap),
        )
        == after
    )
    assert all(KEYWORD in f for f in server_flags(stack, "Intake").values())
    assert poll_once(stack) == (0, [])
    assert scalar(stack.db_url, "SELECT count(*) FROM event WHERE kind = 'mailbox_resync'") == 1


def test_mail_without_message_id_delivered_twice_is_one_row(stack: Stack) -> None:
    reused = complaint(0, seed=17)
    # Another sender's client reusing the same Message-ID for a different mail is a new mail.
    other = reused.raw.replace(reused.from_addr.encode(), b"someone.else@example.net")
    stack.append_all([NO_MESSAGE_ID, NO_MESSAGE_ID, reused.raw, other])

    stored, enqueued = poll_once(stack)

    assert stored == 3
    assert [raw for _, raw in raw_rows(stack)] == [NO_MESSAGE_ID, reused.raw, other]
    assert len(enqueued) == 3
    assert all(KEYWORD in f for f in server_flags(stack).values())  # the duplicate too


def test_arrival_time_is_the_servers_when_it_is_believable(stack: Stack) -> None:
    """A mail that came while the poller was down counts from when it came (INTERNALDATE): a
    review request on the window's last day stays timely. One that a user moved in from an
    old folder (INTERNALDATE a month ago) counts from now, or its deadlines would be long past.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    came, moved_in = complaints(2, seed=51)
    with stack.mailbox.client() as imap:
        imap.append("INBOX", came.raw, msg_time=now - timedelta(hours=5))
        imap.append("INBOX", moved_in.raw, msg_time=now - timedelta(days=30))
    assert poll_once(stack)[0] == 2
    arrived = dict(query(stack.db_url, "SELECT message_id, received_at FROM raw_message"))
    assert arrived[came.message_id] == now - timedelta(hours=5)
    assert abs(arrived[moved_in.message_id] - datetime.now(UTC)) < timedelta(minutes=1)


def raw_message(tag: str) -> bytes:
    return (
        f"Message-ID: <{tag}@example.net>\r\nFrom: {tag}@example.net\r\nSubject: {tag}\r\n"
        f"\r\n{tag}\r\n"
    ).encode()


def test_a_batch_with_a_mail_twice_and_one_stored_gives_each_mail_one_row(fresh_db: str) -> None:
    app = App.from_settings(Settings(database_url=fresh_db, broker_url="stub"))
    first = store_batch(app, "INBOX", 7, {1: raw_message("a")})
    new = store_batch(
        app,
        "INBOX",
        7,
        {
            4: raw_message("c"),
            2: raw_message("b"),
            3: raw_message("a"),  # a: stored already
            1: raw_message("x"),  # its uid is stored already
            5: raw_message("b"),  # the same mail twice in one fetch
        },
    )

    rows = query(fresh_db, "SELECT id, uid, raw FROM raw_message ORDER BY id")
    assert [(uid, bytes(raw)) for _, uid, raw in rows] == [
        (1, raw_message("a")),
        (2, raw_message("b")),
        (4, raw_message("c")),
    ]
    assert first + new == [row_id for row_id, *_ in rows]
    assert scalar(fresh_db, "SELECT last_uid FROM mailbox_cursor WHERE mailbox = 'INBOX'") == 5
    get_engine(fresh_db).dispose()


def test_a_mail_a_racing_transaction_stores_is_skipped_alone(fresh_db: str) -> None:
    """Another poller (another mailbox, no shared cursor lock) has inserted the same mail and not
    committed yet: the batch waits for it, then skips that mail and stores the rest."""
    app = App.from_settings(Settings(database_url=fresh_db, broker_url="stub"))
    result: list[list[int]] = []
    with session_scope(fresh_db) as other:
        theirs = store_many(other, "imap://other/INBOX", 3, [Incoming(raw_message("a"), 9)])
        racing = threading.Thread(
            target=lambda: result.append(
                store_batch(app, "INBOX", 7, {1: raw_message("a"), 2: raw_message("b")})
            )
        )
        racing.start()
        deadline = time.monotonic() + 10
        while not scalar(
            fresh_db,
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'",
        ):
            assert time.monotonic() < deadline, "the batch did not wait for the racing insert"
            time.sleep(0.02)
    racing.join(10)

    rows = query(fresh_db, "SELECT id, mailbox, uid FROM raw_message ORDER BY id")
    assert [(box, uid) for _, box, uid in rows] == [("imap://other/INBOX", 9), ("INBOX", 2)]
    assert theirs == [rows[0][0]] and result == [[rows[1][0]]]
    get_engine(fresh_db).dispose()


class _BodyWithheld:
    """A real Dovecot connection whose FETCH answers lose BODY[] for chosen uids, as a faulty
    server (or one whose mail was expunged meanwhile) answers: the only thing changed."""

    def __init__(self, client: object, nil: set[int], missing: set[int]) -> None:
        self._client, self.nil, self.missing = client, nil, missing

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)

    def fetch(self, uids: list[int], items: list[str]) -> dict:
        answer = self._client.fetch(uids, items)  # type: ignore[attr-defined]
        for uid in self.missing & set(answer):
            del answer[uid][b"BODY[]"]
        for uid in self.nil & set(answer):
            answer[uid][b"BODY[]"] = None
        return answer


def cursor_uid(stack: Stack) -> int:
    return scalar(stack.db_url, "SELECT last_uid FROM mailbox_cursor")


@pytest.mark.parametrize("processed", ["", "Processed"], ids=["flag", "move"])
def test_a_mail_the_server_will_not_give_is_never_marked_nor_passed(
    stack: Stack, processed: str
) -> None:
    """Issue 11 item 2: BODY[] missing for one uid of a batch, or `BODY[] NIL`: the batch's
    other mails are stored and marked, those two stay in the inbox unmarked, the cursor stays
    below them; after MAX_UNREADABLE cycles each becomes a quarantined row with its reason."""
    stack.overrides["imap"] = {"processed_mailbox": processed}
    mails = complaints(5, seed=21)
    stack.append_all([m.raw for m in mails])
    app = stack.app()
    with stack.mailbox.client() as imap:
        imap.select_folder("INBOX", readonly=True)
        uids = sorted(imap.search())
    missing, nil = uids[1], uids[3]
    enqueued: list[int] = []
    poller = Poller(app, enqueued.extend)
    with poller.session() as client:  # creates the processed folder, as a run does
        faulty = _BodyWithheld(client, nil={nil}, missing={missing})
        assert poller.poll(faulty) == 3  # type: ignore[arg-type]

        assert [raw for _, raw in raw_rows(stack)] == [mails[i].raw for i in (0, 2, 4)]
        assert cursor_uid(stack) == uids[0]  # not past the first unread mail
        if processed:
            assert sorted(server_bodies(stack, "INBOX")) == sorted([mails[1].raw, mails[3].raw])
        else:
            flags = server_flags(stack)
            assert [KEYWORD in flags[u] for u in uids] == [True, False, True, False, True]

        for _ in range(MAX_UNREADABLE - 1):
            poller.poll(faulty)  # type: ignore[arg-type]

    # Past both now (moved mail beyond them is gone from the search, so the cursor needs not
    # reach it: the invariant is only that it never passes a uid without a row).
    assert cursor_uid(stack) == (nil if processed else uids[-1])
    rows = query(
        stack.db_url,
        "SELECT uid, status, reason FROM raw_message WHERE status = 'quarantined' ORDER BY uid",
    )
    assert [(uid, status) for uid, status, _ in rows] == [
        (missing, "quarantined"),
        (nil, "quarantined"),
    ]
    assert "no BODY[]" in rows[0][2] and "NIL" in rows[1][2]
    assert f"UID {missing}" in rows[0][2]
    assert len(enqueued) == 3  # the quarantined rows are not sent to ingest
    if processed:
        assert server_bodies(stack, "INBOX") == []
    else:
        assert all(KEYWORD in f for f in server_flags(stack).values())
    listed = stack.cli_json("quarantine", "list")
    assert len(listed) == 2
