"""Sender: deliver one outbox row by SMTP (or into a folder for the demo), exactly once.

A row marked sent is never sent again. SMTP 4xx and connection errors are ours to retry (with
Dramatiq's backoff, then the sweeper); 5xx is the recipient's problem: the row is marked failed
with the server's reason and not retried (Mailman's outgoing runner does the same).

One window no SMTP client can close (RFC 1047): the server has taken the mail and the process
dies before the row is marked sent. The mail is then sent again rather than lost; the attempt
leaves a durable mark first, so the resend is recorded on the row ("delivered after an
interrupted attempt") for the operator, and it carries the same Message-ID, which mail clients
use to show it once.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import threading
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from sqlalchemy import bindparam, select, update

from config.settings import SmtpSettings
from models import OutboundEmail, OutboxStatus
from models.db import get_engine, table_of
from models.private_files import private_dir, write_private
from models.types import utcnow
from workers.app import App
from workers.batches import BatchStage
from workers.outbound.envelope import UnsendableAddress, envelope

log = logging.getLogger(__name__)


class PermanentFailure(Exception):
    """The receiving side refused for good (5xx)."""


class CredentialsInClear(smtplib.SMTPException):
    """AUTH would send the password unencrypted to another machine: refused, the row waits."""


class _Connections(threading.local):
    smtp: smtplib.SMTP | None = None


_local = _Connections()


def open_smtp(cfg: SmtpSettings) -> smtplib.SMTP:
    if cfg.username and not cfg.may_log_in():
        # Checked before connecting: AUTH PLAIN/LOGIN is the password in base64 (RFC 4954 s4).
        raise CredentialsInClear(
            f"refusing to send the SMTP password to {cfg.host} without TLS: set "
            "COMPLAINTDESK_SMTP__STARTTLS=true or COMPLAINTDESK_SMTP__SSL=true "
            "(only a loopback host may take it in clear)"
        )
    if cfg.ssl:
        conn: smtplib.SMTP = smtplib.SMTP_SSL(
            cfg.host, cfg.port, timeout=cfg.timeout, context=ssl.create_default_context()
        )
    else:
        conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        if cfg.starttls:
            conn.starttls(context=ssl.create_default_context())
    if cfg.username:
        conn.login(cfg.username, cfg.password.get_secret_value())
    return conn


def _connection(cfg: SmtpSettings) -> smtplib.SMTP:
    # One connection per worker thread, reused: a TCP+TLS+AUTH handshake per mail would
    # dominate the send time.
    if _local.smtp is None:
        _local.smtp = open_smtp(cfg)
    return _local.smtp


def drop_connection() -> None:
    conn, _local.smtp = _local.smtp, None
    if conn is not None:
        with contextlib.suppress(OSError):
            conn.close()


def smtp_send(cfg: SmtpSettings, sender: str, recipient: str, raw: bytes) -> None:
    for attempt in (1, 2):  # a pooled connection the server closed gets one fresh retry
        conn = _connection(cfg)
        try:
            conn.ehlo_or_helo_if_needed()
            mail_from, rcpt_to, options = envelope(sender, recipient, conn.has_extn("smtputf8"))
            refused = conn.sendmail(mail_from, [rcpt_to], raw, mail_options=options)
        except UnsendableAddress as e:  # decided before any command: the connection is clean
            raise PermanentFailure(str(e)) from None
        except smtplib.SMTPServerDisconnected:
            drop_connection()
            if attempt == 2:
                raise
            continue
        except smtplib.SMTPRecipientsRefused as e:  # sendmail already sent RSET
            code, reason = e.recipients[rcpt_to]
            _raise_for(code, reason)
        except smtplib.SMTPResponseException as e:  # sendmail already sent RSET
            _raise_for(e.smtp_code, e.smtp_error)
        except BaseException:
            # Anything else may have struck inside the transaction (after MAIL FROM): a reused
            # connection would answer the next mail "503 nested MAIL command". Start afresh.
            drop_connection()
            raise
        if refused:
            code, reason = refused[rcpt_to]
            _raise_for(code, reason)
        return


def _raise_for(code: int, reason: bytes | str) -> None:
    text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    if 500 <= code < 600:
        raise PermanentFailure(f"{code} {text}")
    raise smtplib.SMTPResponseException(code, text)


class Outgoing(Protocol):
    """What delivery reads of an outbox row (as `_CLAIM` or `_LOCK` returns it, or the model)."""

    id: int | None
    kind: str
    to_addr: str
    raw: bytes


def write_to_folder(folder: Path, row: Outgoing) -> None:
    private_dir(folder)
    write_private(folder / f"{row.id:06d}-{row.kind}.eml", row.raw)


def deliver(app: App, row: Outgoing) -> None:
    if app.settings.outbox_dir is not None:
        write_to_folder(app.settings.outbox_dir, row)
        return
    smtp_send(app.settings.smtp, _envelope_from(app.settings.intake_address), row.to_addr, row.raw)


@lru_cache(maxsize=8)
def _envelope_from(intake_address: str) -> str:
    return parseaddr(intake_address)[1]  # parsed once, not per mail


IN_FLIGHT = "interrupted: the worker stopped while sending; the next attempt sends again"
RESENT = "delivered after an interrupted attempt; the recipient may have it twice (same Message-ID)"

# Core statements, built once: a send is a few round trips and no ORM objects.
_T = table_of(OutboundEmail)
# PostgreSQL, autocommitted: lock the row, read its status and old mark, and mark it if queued.
# Locking first makes the old mark the one a finished attempt left, not an older snapshot's.
_OLD = (
    select(_T.c.id, _T.c.status, _T.c.last_error)
    .where(_T.c.id == bindparam("oid"))
    .with_for_update()
    .cte("old")
)
_MARK_PG = select(_OLD.c.status, _OLD.c.last_error).add_cte(
    update(_T)
    .where(_T.c.id == _OLD.c.id, _OLD.c.status == OutboxStatus.QUEUED)
    .values(last_error=IN_FLIGHT)
    .cte("marked")
)
# PostgreSQL: the row lock is taken by writing the success in advance, so that success needs
# no statement after SMTP, only the commit (sent_at is then when the SMTP transaction began).
# The lock holds through SMTP; a failure overwrites the row in the same transaction (_UNDO),
# and a crash rolls it back to the committed IN_FLIGHT mark.
_CLAIM = (
    update(_T)
    .where(_T.c.id == bindparam("oid"), _T.c.status == OutboxStatus.QUEUED)
    .values(
        status=OutboxStatus.SENT,
        sent_at=bindparam("sent_at"),
        attempts=_T.c.attempts + 1,
        last_error=bindparam("last_error"),
    )
    .returning(_T.c.id, _T.c.kind, _T.c.to_addr, _T.c.raw)
)
_UNDO = update(_T).where(_T.c.id == bindparam("oid")).values(sent_at=None)
_STATUS_NOW = select(_T.c.status).where(_T.c.id == bindparam("oid"))
# SQLite (no row locks): read, then write the mark; the result is written after SMTP.
_STATUS = select(_T.c.status, _T.c.last_error).where(_T.c.id == bindparam("oid")).with_for_update()
_MARK = update(_T).where(_T.c.id == bindparam("oid")).values(last_error=IN_FLIGHT)
_LOCK = (
    select(_T.c.id, _T.c.kind, _T.c.to_addr, _T.c.raw, _T.c.status)
    .where(_T.c.id == bindparam("oid"))
    .with_for_update()
)
_RESULT = update(_T).where(_T.c.id == bindparam("oid")).values(attempts=_T.c.attempts + 1)


def mark_attempt(app: App, outbound_id: int) -> tuple[str, bool] | None:
    """Durably note that an attempt starts; returns (status, whether an earlier attempt was
    interrupted), or None when the row is missing.

    A crash after the server took the mail leaves this mark behind; a failure we saw replaces
    it with the reason, and success clears it.
    """
    engine = get_engine(app.db_url)
    if engine.dialect.name == "postgresql":
        # One statement is its own transaction: no BEGIN and COMMIT round trips.
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            old = conn.execute(_MARK_PG, {"oid": outbound_id}).first()
        return None if old is None else (old.status, old.last_error in (IN_FLIGHT, RESENT))
    with engine.begin() as conn:
        row = conn.execute(_STATUS, {"oid": outbound_id}).first()
        if row is None:
            return None
        if row.status == OutboxStatus.QUEUED:
            conn.execute(_MARK, {"oid": outbound_id})
        return row.status, row.last_error in (IN_FLIGHT, RESENT)


def send(app: App, outbound_id: int) -> str:
    """Deliver the row unless done already; returns its status afterwards.

    The row stays locked (on PostgreSQL) through the SMTP transaction, so a second delivery
    of the same id (a broker redelivery, the sweeper) waits for the first and then finds the
    row sent. Committing a claim before delivering would let both see `queued`.
    """
    marked = mark_attempt(app, outbound_id)
    if marked is None or marked[0] != OutboxStatus.QUEUED:
        return marked[0] if marked else "missing"
    interrupted = marked[1]
    engine = get_engine(app.db_url)
    # SQLite's one lock is database-wide: not held through SMTP, the success comes after.
    claimed = engine.dialect.name == "postgresql"
    # A failure replaces the success _CLAIM wrote in advance (it counted the attempt already).
    failed, requeue = (_UNDO, {"status": OutboxStatus.QUEUED}) if claimed else (_RESULT, {})
    with engine.begin() as conn:
        if claimed:
            row = conn.execute(
                _CLAIM,
                {
                    "oid": outbound_id,
                    "sent_at": utcnow(),
                    "last_error": RESENT if interrupted else None,
                },
            ).first()
            if row is None:  # another delivery finished it since the mark
                return conn.execute(_STATUS_NOW, {"oid": outbound_id}).scalar() or "missing"
        else:
            row = conn.execute(_LOCK, {"oid": outbound_id}).first()
            if row is None or row.status != OutboxStatus.QUEUED:
                return row.status if row else "missing"
        try:
            deliver(app, row)
        except PermanentFailure as e:
            conn.execute(
                failed, {"oid": outbound_id, "status": OutboxStatus.FAILED, "last_error": str(e)}
            )
            log.warning("outbound %s failed for good: %s", outbound_id, e)
            return OutboxStatus.FAILED
        except (OSError, smtplib.SMTPException) as e:
            drop_connection()
            conn.execute(
                failed,
                {"oid": outbound_id, **requeue, "last_error": f"{type(e).__name__}: {e}"[:4000]},
            )
            error = e  # committed with the attempt below, then raised for a retry
        else:
            if interrupted:
                log.warning("outbound %s sent again after an interrupted attempt", outbound_id)
            if not claimed:
                conn.execute(
                    _RESULT,
                    {
                        "oid": outbound_id,
                        "status": OutboxStatus.SENT,
                        "sent_at": utcnow(),
                        "last_error": RESENT if interrupted else None,
                    },
                )
            return OutboxStatus.SENT
    raise error


class SendBatch(BatchStage[str]):
    """Sending as a batch stage (workers.batches): many rows per broker message, over the
    thread's one SMTP connection. Each row is its own locked transaction, so a redelivered
    batch skips what was sent; a row that fails goes on alone (send_outbound)."""

    what = "outbound"
    alone_actor = "send_outbound"
    alone_delay_ms = 2_000
    together = False

    def one(self, item_id: int) -> str:
        return send(self.app, item_id)
