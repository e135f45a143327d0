"""Poller: fetch new mail from the IMAP mailbox and store the bytes. Nothing else.

Order per batch, so that no mail is ever lost or imported twice:
  fetch (BODY.PEEK, the server's \\Seen flag untouched) → insert raw rows + cursor in one
  transaction → commit → enqueue the new ids → only then flag or move them on the server.
A crash anywhere leaves either nothing committed (fetched again next time) or committed rows
whose mail is still unmarked (marked on the next cycle; the sweeper enqueues the rows).
Next hop: the ingest actor.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from config.settings import ImapSettings
from models import Event, MailboxCursor
from models.db import insert_skipping_existing, session_scope, table_of
from models.types import utcnow
from workers.app import App
from workers.intake.fetched import (
    cursor_target,
    give_up,
    placeholder,
    read_fetch,
    unreadable_reason,
)
from workers.intake.quarantine import quarantine_row
from workers.intake.raw_store import Incoming, store_many, store_raw
from workers.leader_lock import LeaderLock

log = logging.getLogger(__name__)
Enqueue = Callable[[list[int]], None]


def connect(cfg: ImapSettings) -> IMAPClient:
    context = ssl.create_default_context() if cfg.ssl else None
    client = IMAPClient(
        cfg.host, port=cfg.port, ssl=cfg.ssl, ssl_context=context, timeout=cfg.timeout
    )
    client.normalise_times = False  # INTERNALDATE with the server's offset, not naive local
    client.login(cfg.username, cfg.password.get_secret_value())
    return client


def mailbox_key(cfg: ImapSettings) -> str:
    return f"imap://{cfg.username}@{cfg.host}:{cfg.port}/{cfg.mailbox}"


def load_cursor(session: Session, key: str) -> MailboxCursor:
    cursor = session.get(MailboxCursor, key, with_for_update=True)
    if cursor is None:
        # Two pollers without a shared lock may both find no cursor on their first run: the
        # insert skips a row the other committed meanwhile, and both then lock that one row.
        session.execute(
            insert_skipping_existing(session, table_of(MailboxCursor)).values(
                mailbox=key, last_uid=0, resyncs=0
            )
        )
        cursor = session.get(MailboxCursor, key, with_for_update=True, populate_existing=True)
        assert cursor is not None
    return cursor


def check_uidvalidity(session: Session, cursor: MailboxCursor, uidvalidity: int) -> None:
    """A new UIDVALIDITY means every UID changed (RFC 3501 2.3.1.1): fetch all again.

    Identity keys on the stored rows keep the re-fetched mail from becoming new cases.
    """
    if cursor.uidvalidity is not None and cursor.uidvalidity != uidvalidity:
        session.add(
            Event(
                kind="mailbox_resync",
                detail={
                    "mailbox": cursor.mailbox,
                    "old_uidvalidity": cursor.uidvalidity,
                    "new_uidvalidity": uidvalidity,
                    "last_uid": cursor.last_uid,
                },
            )
        )
        log.warning(
            "UIDVALIDITY of %s changed %s -> %s: resyncing",
            cursor.mailbox,
            cursor.uidvalidity,
            uidvalidity,
        )
        cursor.last_uid = 0
        cursor.resyncs += 1
    cursor.uidvalidity = uidvalidity


def store_batch(
    app: App,
    key: str,
    uidvalidity: int,
    fetched: dict[int, bytes],
    arrived: dict[int, datetime] | None = None,
    *,
    up_to: int | None = None,
    unreadable: dict[int, str] | None = None,
) -> list[int]:
    """One transaction: the rows and the cursor move together. Returns the new row ids (to
    enqueue for ingest; not the quarantined ones).

    `arrived`: the server's arrival time (INTERNALDATE) of each uid, where it told us.
    `up_to`: how far the cursor may move (default: the highest uid stored); every uid up to it
    must have a row. `unreadable`: uid -> reason of mails stored as quarantined placeholders.
    """
    unreadable = unreadable or {}
    with session_scope(app.db_url) as session:
        cursor = load_cursor(session, key)
        # A handful of statements for the batch (workers/intake/raw_store.py); a mail a racing poller
        # stored meanwhile is skipped alone by ON CONFLICT DO NOTHING, without savepoints.
        new_ids = store_many(
            session,
            key,
            uidvalidity,
            [Incoming(fetched[uid], uid, (arrived or {}).get(uid)) for uid in sorted(fetched)],
        )
        for uid, why in sorted(unreadable.items()):
            raw = placeholder(key, uidvalidity, uid, why)
            row = store_raw(session, raw, key, uidvalidity, uid)
            if row is not None:
                quarantine_row(session, row, unreadable_reason(key, uidvalidity, uid, why))
                log.error("quarantined unreadable UID %s of %s: %s", uid, key, why)
        if up_to is None:
            up_to = max([*fetched, *unreadable], default=0)
        cursor.last_uid = max(cursor.last_uid, up_to)
        cursor.last_contact_at = utcnow()
        session.add(cursor)
    return new_ids


class Poller:
    def __init__(self, app: App, enqueue: Enqueue) -> None:
        self.app = app
        self.cfg = app.settings.imap
        self.key = mailbox_key(self.cfg)
        self.enqueue = enqueue
        self._warned_cannot_move = False
        # (UIDVALIDITY, UID) -> cycles it came back unreadable; in memory: a restart only
        # grants a mail a few more tries.
        self._failures: dict[tuple[int, int], int] = {}

    def poll(self, client: IMAPClient) -> int:
        """Import everything new in the mailbox; returns how many mails were stored."""
        info = client.select_folder(self.cfg.mailbox)
        uidvalidity = int(info[b"UIDVALIDITY"])
        with session_scope(self.app.db_url) as session:
            cursor = load_cursor(session, self.key)
            check_uidvalidity(session, cursor, uidvalidity)
            last_uid = cursor.last_uid
            cursor.last_contact_at = utcnow()
        # Failure counts of mails the cursor has passed (or of an old UIDVALIDITY) are done.
        self._failures = {
            k: n for k, n in self._failures.items() if k[0] == uidvalidity and k[1] > last_uid
        }
        self.mark(client, last_uid)  # leftovers of a crash between commit and marking
        uids = [u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid]
        stored = 0
        lowest_held: int | None = None  # the cursor stays below a mail held back for a retry
        for batch in chunks(sorted(uids), self.cfg.fetch_batch):
            got = read_fetch(batch, client.fetch(batch, ["BODY.PEEK[]", "INTERNALDATE"]))
            quarantine = self._unreadable(uidvalidity, got.unreadable)
            held = set(got.unreadable) - quarantine
            if held:
                lowest_held = min(held) if lowest_held is None else min(lowest_held, *held)
            new_ids = store_batch(
                self.app,
                self.key,
                uidvalidity,
                got.readable,
                got.arrived,
                up_to=cursor_target(batch, lowest_held) or 0,  # 0: the cursor stays
                unreadable={uid: got.unreadable[uid] for uid in quarantine},
            )
            self.enqueue(new_ids)
            # Exactly the uids that now have a row; a held-back one stays unmarked in place.
            self.mark_uids(client, sorted([*got.readable, *quarantine]))
            stored += len(new_ids)
        return stored

    def _unreadable(self, uidvalidity: int, unreadable: dict[int, str]) -> set[int]:
        """Count this cycle's failure of each unreadable uid; the ones to quarantine now."""
        for uid, why in unreadable.items():
            key = (uidvalidity, uid)
            self._failures[key] = self._failures.get(key, 0) + 1
            log.warning(
                "UID %s of %s unreadable (%s), attempt %s", uid, self.key, why, self._failures[key]
            )
        counts = {uid: self._failures[(uidvalidity, uid)] for uid in unreadable}
        done = give_up(unreadable, counts)
        for uid in done:
            self._failures.pop((uidvalidity, uid), None)
        return done

    def mark(self, client: IMAPClient, up_to_uid: int) -> None:
        """Flag or move every mail up to `up_to_uid` not yet marked: all are committed rows
        (the cursor never passes a uid without one)."""
        if up_to_uid <= 0:
            return
        if self._moving(client):
            uids = client.search(["UID", f"1:{up_to_uid}"])
        else:
            uids = client.search(["UID", f"1:{up_to_uid}", "UNKEYWORD", self.cfg.imported_keyword])
        self.mark_uids(client, [u for u in uids if u <= up_to_uid])

    def mark_uids(self, client: IMAPClient, uids: list[int]) -> None:
        """Flag or move exactly these mails, each of which has a committed row."""
        if not uids:
            return
        if not self._moving(client):
            client.add_flags(uids, [self.cfg.imported_keyword.encode()], silent=True)
        elif client.has_capability("MOVE"):
            client.move(uids, self.cfg.processed_mailbox)
        else:
            # COPY + \Deleted + UID EXPUNGE of exactly these UIDs (RFC 4315): never expunge
            # what someone else flagged deleted.
            client.copy(uids, self.cfg.processed_mailbox)
            client.delete_messages(uids, silent=True)
            client.uid_expunge(uids)

    def _moving(self, client: IMAPClient) -> bool:
        return bool(self.cfg.processed_mailbox) and self.can_move(client)

    def can_move(self, client: IMAPClient) -> bool:
        """MOVE (RFC 6851), or UIDPLUS (RFC 4315) to expunge only our own copies. Without
        either, a plain EXPUNGE would also remove what others flagged \\Deleted, and a copy
        left undeleted would be copied again on every poll: flag with the keyword instead."""
        if client.has_capability("MOVE") or client.has_capability("UIDPLUS"):
            return True
        if not self._warned_cannot_move:
            log.warning(
                "%s offers neither MOVE nor UIDPLUS: imported mail stays in %s, "
                "flagged %s, instead of moving to %s",
                self.cfg.host,
                self.cfg.mailbox,
                self.cfg.imported_keyword,
                self.cfg.processed_mailbox,
            )
            self._warned_cannot_move = True
        return False

    def wait(self, client: IMAPClient) -> None:
        """Block until the server says something arrived (IDLE) or the poll interval passed."""
        if client.has_capability("IDLE"):
            client.idle()
            try:
                client.idle_check(timeout=self.cfg.idle_timeout)
            finally:
                client.idle_done()
        else:
            time.sleep(self.cfg.poll_interval)

    @contextmanager
    def session(self) -> Iterator[IMAPClient]:
        client = connect(self.cfg)
        try:
            if self.cfg.processed_mailbox and not client.folder_exists(self.cfg.processed_mailbox):
                client.create_folder(self.cfg.processed_mailbox)
            yield client
        finally:
            with suppress(IMAPClientError, OSError):
                client.logout()

    def run(self, once: bool = False, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Poll until stopped (or once); reconnects with backoff. Returns mails stored.

        Only the holder of the mailbox's leader lock polls; a second poller waits as a standby.
        A leader that loses the lock (Redis flushed or restarted, a renewal that came too
        late) stops polling and stands by too, until it wins the lock again: it never exits.
        """
        lock = LeaderLock(
            self.app.settings.broker_url,
            f"poller:{self.key}",
            ttl=max(60.0, 3 * self.cfg.idle_timeout),
        )
        total = 0
        while not should_stop():
            if not self._lead(lock, once):
                continue
            try:
                total += self._run(once, lambda: should_stop() or not lock.held())
            finally:
                lock.release()
            if once:
                break
            if not should_stop():
                log.warning("lost the leader lock of %s; standing by", self.key)
        return total

    def _lead(self, lock: LeaderLock, once: bool) -> bool:
        """Wait a little for the leader lock; False while another poller holds it."""
        try:
            if lock.acquire(wait=5.0):
                return True
            log.info("another poller holds %s; standing by", self.key)
        except RedisError as e:  # the broker is down: nothing could be enqueued anyway
            if once:
                raise
            log.warning("cannot take the leader lock of %s (%s); retrying", self.key, e)
            time.sleep(5.0)
        return False

    def _run(self, once: bool, should_stop: Callable[[], bool]) -> int:
        total, backoff = 0, 1.0
        while not should_stop():
            try:
                with self.session() as client:
                    backoff = 1.0
                    while not should_stop():
                        stored = self.poll(client)
                        total += stored
                        if once:
                            return total
                        if (
                            not stored
                        ):  # mail that came during a poll was announced then, not in IDLE
                            self.wait(client)
            except (TimeoutError, IMAPClientError, OSError, OperationalError, RedisError) as e:
                # A database outage lands here too: nothing was marked on the server. So does
                # a broker outage after a commit: the next poll marks those rows' mail and the
                # sweeper enqueues them.
                if once:
                    raise
                log.warning("poll failed (%s); retrying in %.0f s", e, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 300.0)
        return total


def chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
