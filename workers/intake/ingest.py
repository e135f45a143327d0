"""Ingest: decide what one stored mail is — a new case, a follow-up, screened or quarantined.

Next hop: the outbox rows it wrote go to the sender actor; a new case goes to classification.
Runs any number of times for the same mail: the raw row's status is checked under a row lock,
and every reply is keyed per (case, kind, occasion).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dramatiq
from sqlalchemy import func, select, update
from sqlmodel import Session

from models import Disposition, Event, OutboundEmail, RawMessage, RawStatus
from models.db import each_item, session_scope, together_then_apart
from models.types import utcnow
from workers.intake.acknowledge import acknowledge
from workers.app import App, get_app
from workers.broker import ensure_broker, send_in_batches
from workers.intake.correlate import correlate
from workers.clock.deadlines import on_case_opened
from workers.faults import crash_if_marked, raise_if_marked
from workers.casework.follow_up import authorize_sender, react_to_follow_up, sender_role
from workers.intake.filing import CaseNumbers, file_message, open_case
from workers.mail.parse import MailParseError, ParsedMail, parse_mail
from workers.intake.quarantine import quarantine_row
from workers.intake.screen import ScreenVerdict, bounced_message_ids, screen_mail

ensure_broker()
log = logging.getLogger(__name__)


@dataclass
class IngestOutcome:
    disposition: Disposition = Disposition.PENDING
    case_id: int | None = None
    new_case: bool = False
    outbound_ids: list[int] = field(default_factory=list)


def claim(app: App, raw_id: int) -> bool:
    """Count this delivery before doing anything (a killed worker is no Dramatiq retry)."""
    with session_scope(app.db_url) as session:
        raw = session.get(RawMessage, raw_id, with_for_update=True)
        if raw is None or raw.status != RawStatus.RECEIVED:
            return False
        limit = app.policy.limits.max_attempts
        if raw.attempts >= limit:  # the count stays what was tried: the operator sees `limit`
            quarantine_row(session, raw, f"gave up after {limit} attempts; last error: "
                           f"{raw.reason or 'the worker stopped while processing it'}")
            return False
        raw.attempts += 1
        return True


def record_failure(app: App, raw_id: int, error: BaseException) -> None:
    with session_scope(app.db_url) as session:
        raw = session.get(RawMessage, raw_id, with_for_update=True)
        if raw is None or raw.status != RawStatus.RECEIVED:
            return
        raw.reason = f"{type(error).__name__}: {error}"[:4000]
        if raw.attempts >= app.policy.limits.max_attempts:
            quarantine_row(session, raw, f"failed {raw.attempts} times; last error: {raw.reason}")


def record_bounce(session: Session, mail: ParsedMail, raw: RawMessage, verdict: ScreenVerdict) -> int | None:
    ids = bounced_message_ids(mail, raw.raw)
    if not ids:
        return None
    row = session.execute(select(OutboundEmail).where(OutboundEmail.message_id.in_(ids))).scalars().first()
    if row is None:
        return None
    row.bounced_at = utcnow()
    row.bounce_reason = verdict.reason
    session.add(row)
    session.add(Event(case_id=row.case_id, raw_message_id=raw.id, kind="mail_bounced",
                      detail={"outbound_id": row.id, "to": row.to_addr, "reason": verdict.reason}))
    return row.case_id


# Stored mails by Message-ID: (id, identity) of each, as read for a whole batch at once.
SameMessageId = dict[str, list[tuple[int, str]]]


def stored_by_message_id(session: Session, raws: list[RawMessage]) -> SameMessageId:
    """Every stored mail sharing a Message-ID with one of `raws`, in one query for the batch."""
    message_ids = {raw.message_id for raw in raws if raw.message_id is not None}
    found: SameMessageId = {}
    if message_ids:
        for raw_id, message_id, identity in session.execute(
                select(RawMessage.id, RawMessage.message_id, RawMessage.identity)
                .where(RawMessage.message_id.in_(message_ids)).order_by(RawMessage.id)):
            found.setdefault(message_id, []).append((raw_id, identity))
    return found


def log_message_id_collision(session: Session, raw: RawMessage, case_id: int | None,
                             stored: SameMessageId | None = None) -> None:
    """Another stored mail with this Message-ID but a different identity (workers/mail/identity.py):
    both stay separate mails, and the reuse is logged where staff see it. `stored`: what
    stored_by_message_id read for the batch."""
    if raw.message_id is None:
        return
    if stored is not None:
        others = [i for i, identity in stored.get(raw.message_id, [])
                  if identity != raw.identity][:20]
    else:
        others = list(session.execute(
            select(RawMessage.id).where(RawMessage.message_id == raw.message_id,
                                        RawMessage.identity != raw.identity)
            .order_by(RawMessage.id).limit(20)).scalars())
    if others:
        session.add(Event(case_id=case_id, raw_message_id=raw.id, kind="message_id_collision",
                          detail={"message_id": raw.message_id, "other_raw_ids": list(others)}))


def dispose(session: Session, app: App, raw: RawMessage, mail: ParsedMail,
            numbers: CaseNumbers | None = None) -> IngestOutcome:
    verdict = screen_mail(mail, own_addresses=app.own_addresses,
                          max_received_hops=app.policy.limits.max_received_hops)
    if verdict is not None:
        case_id = record_bounce(session, mail, raw, verdict) if verdict.kind == "bounce" else None
        raw.reason = verdict.reason
        session.add(Event(case_id=case_id, raw_message_id=raw.id, kind="screened",
                          detail={"kind": verdict.kind, "reason": verdict.reason}))
        return IngestOutcome(Disposition.SCREENED, case_id)
    result = correlate(session, app, mail)
    for note in result.notes:
        session.add(Event(raw_message_id=raw.id, kind="correlation_refused", detail={"note": note}))
    if result.match is not None:
        case = result.match.case
        auth = authorize_sender(app, result.match, mail)
        file_message(session, app, case, mail, raw, sender_role(auth, mail, case.complainant_email))
        session.add(Event(case_id=case.id, raw_message_id=raw.id, kind="mail_received",
                          actor=mail.from_addr[:64], detail={"correlated_by": result.match.method}))
        raw.reason = f"correlated by {result.match.method}"
        outbound = react_to_follow_up(session, app, result.match, mail, raw, auth)
        return IngestOutcome(Disposition.FOLLOW_UP, case.id, outbound_ids=outbound)
    case = open_case(session, app, mail, raw, raw.received_at, numbers)
    on_case_opened(session, app, case, raw.received_at)
    ack = acknowledge(session, app, case, mail)
    return IngestOutcome(Disposition.CASE, case.id, new_case=True,
                         outbound_ids=[ack.id] if ack else [])


# pg_advisory_xact_lock key of the retry gate ("cdretry" in ASCII): any constant of our own.
RETRY_GATE_KEY = 0x63647265747279


@contextmanager
def retry_gate(app: App, raw_id: int) -> Iterator[None]:
    """Retry one mail at a time when its last delivery never finished.

    A worker process that dies (SIGKILL, OOM) takes every mail in flight with it, and each had
    its attempt counted; the sweeper then enqueues them together, and together they would meet
    the mail that killed the process again, until all of them are quarantined. Mails with an
    attempt behind them therefore wait for a deployment-wide PostgreSQL advisory lock, taken
    before claim() counts the attempt and held until this delivery ends (or its process dies),
    so a mail that crashes its worker spends its own attempts and nobody else's.
    """
    if not app.db_url.startswith("postgresql"):  # SQLite: one writer, the demo's one process
        yield
        return
    with session_scope(app.db_url) as gate:
        row = gate.execute(select(RawMessage.status, RawMessage.attempts)
                           .where(RawMessage.id == raw_id)).first()
        if row is not None and row.status == RawStatus.RECEIVED and row.attempts > 0:
            gate.execute(select(func.pg_advisory_xact_lock(RETRY_GATE_KEY)))
        yield


def ingest(app: App, raw_id: int) -> IngestOutcome:
    with retry_gate(app, raw_id):
        return ingest_claimed(app, raw_id)


def ingest_claimed(app: App, raw_id: int) -> IngestOutcome:
    if not claim(app, raw_id):
        return IngestOutcome()
    with session_scope(app.db_url) as session:
        raw = session.get(RawMessage, raw_id, with_for_update=True)
        if raw is None or raw.status != RawStatus.RECEIVED:
            return IngestOutcome()
        return process(session, app, raw)


def process(session: Session, app: App, raw: RawMessage, numbers: CaseNumbers | None = None,
            stored: SameMessageId | None = None) -> IngestOutcome:
    """The work on one claimed, row-locked mail, inside the caller's transaction."""
    if raw.size > app.policy.limits.max_message_bytes:
        quarantine_row(session, raw, f"larger than {app.policy.limits.max_message_bytes} bytes")
        return IngestOutcome(Disposition.QUARANTINED)
    crash_if_marked(raw.raw)
    raise_if_marked(raw.raw)
    try:
        mail = parse_mail(raw.raw)
    except MailParseError as e:
        quarantine_row(session, raw, f"cannot parse: {e}")
        return IngestOutcome(Disposition.QUARANTINED)
    outcome = dispose(session, app, raw, mail, numbers)
    log_message_id_collision(session, raw, outcome.case_id, stored)
    raw.status, raw.disposition = RawStatus.PROCESSED, outcome.disposition
    raw.case_id, raw.processed_at = outcome.case_id, utcnow()
    session.add(raw)
    return outcome


def claim_first_deliveries(app: App, raw_ids: list[int]) -> tuple[list[int], list[int]]:
    """Count one attempt on every mail of a batch delivered for the first time, in one
    transaction; returns (those, the mails with an attempt behind them).

    A mail with an attempt behind it may be the one that killed the last worker: it goes the
    one-at-a-time way (ingest_message and its retry gate), never in a batch again.
    """
    with session_scope(app.db_url) as session:
        rows = session.execute(
            select(RawMessage.id, RawMessage.attempts)
            .where(RawMessage.id.in_(raw_ids), RawMessage.status == RawStatus.RECEIVED)
            .order_by(RawMessage.id).with_for_update()).all()
        first = [raw_id for raw_id, attempts in rows if attempts == 0]
        if first:
            session.execute(update(RawMessage).where(RawMessage.id.in_(first))
                            .values(attempts=RawMessage.attempts + 1)
                            .execution_options(synchronize_session=False))
    return first, [raw_id for raw_id, attempts in rows if attempts > 0]


def ingest_many(app: App, raw_ids: list[int]) -> tuple[list[IngestOutcome], list[int]]:
    """Ingest a batch in one transaction; returns the outcomes and the ids left for the
    one-at-a-time way (retries, and mails that raised).

    One commit and one broker message for many mails, instead of three commits and a message
    each. When a mail raises, the batch runs again with each mail in its own savepoint
    (together_then_apart). Case numbers come from their own short statements
    (CaseNumbers.separate): the year's counter row stays locked only for its UPDATE, not until
    the batch commits, so batches in other threads run alongside. A number is skipped only
    when the mail that took it fails.
    """
    first, retry = claim_first_deliveries(app, raw_ids)
    if not first:
        return [], retry
    numbers = CaseNumbers.separate(app.db_url)

    def run(savepoints: bool) -> tuple[list[IngestOutcome], list[tuple[int, Exception]]]:
        if savepoints:
            numbers.reuse_taken()
        outcomes: list[IngestOutcome] = []
        failed: list[tuple[int, Exception]] = []
        with session_scope(app.db_url) as session:
            raws = session.execute(
                select(RawMessage).where(RawMessage.id.in_(first),
                                         RawMessage.status == RawStatus.RECEIVED)
                .order_by(RawMessage.id).with_for_update()).scalars().all()
            stored = stored_by_message_id(session, list(raws))
            for raw in raws:
                raw_id = raw.id
                with each_item(session, savepoints) as item:
                    outcomes.append(process(session, app, raw, numbers, stored))
                if item.error is not None:  # this mail only; its neighbours go on
                    log.error("ingest of raw message %s failed in a batch", raw_id,
                              exc_info=item.error)
                    failed.append((raw_id, item.error))
        return outcomes, failed

    outcomes, failed = together_then_apart(run, "ingest batch")
    for raw_id, error in failed:
        record_failure(app, raw_id, error)
    return outcomes, retry + [raw_id for raw_id, _ in failed]


@dramatiq.actor(queue_name="ingest", max_retries=5, min_backoff=500, max_backoff=30_000,
                time_limit=120_000)
def ingest_message(raw_id: int) -> None:
    app = get_app()
    try:
        outcome = ingest(app, raw_id)
    except Exception as e:
        log.exception("ingest of raw message %s failed", raw_id)
        record_failure(app, raw_id, e)
        raise
    enqueue_next([outcome])


@dramatiq.actor(queue_name="ingest", max_retries=5, min_backoff=500, max_backoff=30_000,
                time_limit=300_000)
def ingest_batch(raw_ids: list[int]) -> None:
    """The poller's and the sweeper's way in: many mails per message (PostgreSQL)."""
    app = get_app()
    if not app.db_url.startswith("postgresql"):  # SQLite: one writer, no savepoints to lean on
        for raw_id in raw_ids:
            ingest_message.send(raw_id)
        return
    outcomes, one_by_one = ingest_many(app, raw_ids)
    enqueue_next(outcomes)
    for raw_id in one_by_one:
        ingest_message.send_with_options(args=(raw_id,), delay=500)


def enqueue_ingest(raw_ids: list[int], batch: int) -> None:
    send_in_batches(ingest_batch, raw_ids, batch)


def enqueue_next(outcomes: list[IngestOutcome]) -> None:
    from workers.triage.classify_case import classify_batch
    from workers.outbound.sender import send_outbound_batch

    outbound_ids = [i for outcome in outcomes for i in outcome.outbound_ids]
    case_ids = [o.case_id for o in outcomes if o.new_case and o.case_id is not None]
    if outbound_ids:
        send_outbound_batch.send(outbound_ids)
    if case_ids:
        classify_batch.send(case_ids)
