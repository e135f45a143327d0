"""Ingest: decide what one stored mail is — a new case, a follow-up, screened or quarantined.

Next hop: the outbox rows it wrote go to the sender actor; a new case goes to classification.
Runs any number of times for the same mail: the raw row's status is checked under a row lock,
and every reply is keyed per (case, kind, occasion).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import bindparam, func, select, update
from sqlmodel import Session, col

from models import Case, Disposition, Event, OutboundEmail, RawMessage, RawStatus
from models.db import error_text, session_scope
from models.types import utcnow
from workers import hops
from workers.app import App
from workers.batches import BatchStage
from workers.casework.follow_up import authorize_sender, react_to_follow_up, sender_role
from workers.clock.deadlines import on_case_opened
from workers.intake.acknowledge import acknowledge
from workers.intake.correlate import correlate
from workers.intake.filing import CaseNumbers, file_message, open_case
from workers.intake.quarantine import quarantine_row
from workers.intake.screen import (
    ScreenVerdict,
    bounced_message_ids,
    returned_message_ids,
    screen_mail,
)
from workers.mail.casenumbers import case_tags
from workers.mail.parse import MailParseError, ParsedMail, parse_mail, read_addressing
from workers.outbound.outbox import lock_senders

log = logging.getLogger(__name__)


@dataclass
class IngestOutcome:
    disposition: Disposition = Disposition.PENDING
    case_id: int | None = None
    new_case: bool = False
    outbound_ids: list[int] = field(default_factory=list)
    waits: int | None = None  # a follow-up's raw id, left to go again after the mail it answers
    wait_ms: int = 0  # how much later it goes again


# How long a follow-up goes alone before it tries again, while the mail it answers waits to
# be ingested (a neighbour in the batch behind it, or a batch in another worker): 2 s at
# first, then a quarter of the time it has waited, at most a minute (a backlog takes longer).
FOLLOW_UP_RETRY_MS = (2000, 60000)


def claim(app: App, raw_id: int) -> bool:
    """Count this delivery before doing anything (a killed worker is no Dramatiq retry)."""
    with session_scope(app.db_url) as session:
        raw = session.get(RawMessage, raw_id, with_for_update=True)
        if raw is None or raw.status != RawStatus.RECEIVED:
            return False
        limit = app.policy.limits.max_attempts
        if raw.attempts >= limit:  # the count stays what was tried: the operator sees `limit`
            quarantine_row(
                session,
                raw,
                f"gave up after {limit} attempts; last error: "
                f"{raw.reason or 'the worker stopped while processing it'}",
            )
            return False
        raw.attempts += 1
        return True


def record_failure(app: App, raw_id: int, error: BaseException) -> None:
    with session_scope(app.db_url) as session:
        raw = session.get(RawMessage, raw_id, with_for_update=True)
        if raw is None or raw.status != RawStatus.RECEIVED:
            return
        raw.reason = error_text(error)[:4000]  # no bound values, no server DETAIL
        if raw.attempts >= app.policy.limits.max_attempts:
            quarantine_row(session, raw, f"failed {raw.attempts} times; last error: {raw.reason}")


def give_up_on_mail(app: App, raw_id: int, reason: str) -> None:
    """Quarantine a mail still waiting, with `reason` (its attempts are left as counted)."""
    with session_scope(app.db_url) as session:
        raw = session.get(RawMessage, raw_id, with_for_update=True)
        if raw is not None and raw.status == RawStatus.RECEIVED:
            quarantine_row(session, raw, reason)


def record_bounce(
    session: Session, app: App, mail: ParsedMail, raw: RawMessage, verdict: ScreenVerdict
) -> int | None:
    ids = [*bounced_message_ids(mail, raw.raw), *returned_message_ids(mail, app.own_addresses)]
    if not ids:
        return None
    row = (
        session.execute(select(OutboundEmail).where(col(OutboundEmail.message_id).in_(ids)))
        .scalars()
        .first()
    )
    if row is None:
        return None
    row.bounced_at = utcnow()
    row.bounce_reason = verdict.reason
    session.add(row)
    session.add(
        Event(
            case_id=row.case_id,
            raw_message_id=raw.id,
            kind="mail_bounced",
            detail={"outbound_id": row.id, "to": row.to_addr, "reason": verdict.reason},
        )
    )
    return row.case_id


# Stored mails by Message-ID: (id, identity) of each, as read for a whole batch at once.
SameMessageId = dict[str, list[tuple[int, str]]]


def stored_by_message_id(session: Session, raws: list[RawMessage]) -> SameMessageId:
    """Every stored mail sharing a Message-ID with one of `raws`, in one query for the batch."""
    message_ids = {raw.message_id for raw in raws if raw.message_id is not None}
    found: SameMessageId = {}
    if message_ids:
        for raw_id, message_id, identity in session.execute(
            select(col(RawMessage.id), col(RawMessage.message_id), col(RawMessage.identity))
            .where(col(RawMessage.message_id).in_(message_ids))
            .order_by(col(RawMessage.id))
        ):
            found.setdefault(message_id, []).append((raw_id, identity))
    return found


def log_message_id_collision(
    session: Session, raw: RawMessage, case_id: int | None, stored: SameMessageId | None = None
) -> None:
    """Another stored mail with this Message-ID but a different identity (workers/mail/identity.py):
    both stay separate mails, and the reuse is logged where staff see it. `stored`: what
    stored_by_message_id read for the batch."""
    if raw.message_id is None:
        return
    if stored is not None:
        others = [i for i, identity in stored.get(raw.message_id, []) if identity != raw.identity][
            :20
        ]
    else:
        others = list(
            session.execute(
                select(col(RawMessage.id))
                .where(
                    col(RawMessage.message_id) == raw.message_id,
                    col(RawMessage.identity) != raw.identity,
                )
                .order_by(col(RawMessage.id))
                .limit(20)
            ).scalars()
        )
    if others:
        session.add(
            Event(
                case_id=case_id,
                raw_message_id=raw.id,
                kind="message_id_collision",
                detail={"message_id": raw.message_id, "other_raw_ids": list(others)},
            )
        )


def dispose(
    session: Session,
    app: App,
    raw: RawMessage,
    mail: ParsedMail,
    numbers: CaseNumbers | None = None,
) -> IngestOutcome:
    verdict = screen_mail(
        mail,
        own_addresses=app.own_addresses,
        max_received_hops=app.policy.limits.max_received_hops,
        case_prefix=app.policy.case_number_prefix,
    )
    if verdict is not None:
        bounced = verdict.kind == "bounce"
        case_id = record_bounce(session, app, mail, raw, verdict) if bounced else None
        raw.reason = verdict.reason
        session.add(
            Event(
                case_id=case_id,
                raw_message_id=raw.id,
                kind="screened",
                detail={"kind": verdict.kind, "reason": verdict.reason},
            )
        )
        return IngestOutcome(Disposition.SCREENED, case_id)
    result = correlate(session, app, mail)
    if result.match is None and (answered := awaited_mail(session, app, raw, mail)) is not None:
        return wait_for(raw, answered)
    for note in result.notes:
        session.add(Event(raw_message_id=raw.id, kind="correlation_refused", detail={"note": note}))
    if result.match is not None:
        case = result.match.case
        auth = authorize_sender(app, result.match, mail)
        file_message(session, app, case, mail, raw, sender_role(auth, mail, case.complainant_email))
        session.add(
            Event(
                case_id=case.id,
                raw_message_id=raw.id,
                kind="mail_received",
                actor=mail.from_addr[:64],
                detail={"correlated_by": result.match.method},
            )
        )
        raw.reason = f"correlated by {result.match.method}"
        outbound = react_to_follow_up(session, app, result.match, mail, raw, auth)
        return IngestOutcome(Disposition.FOLLOW_UP, case.id, outbound_ids=outbound)
    case = open_case(session, app, mail, raw, raw.received_at, numbers)
    on_case_opened(session, app, case, raw.received_at)
    ack = acknowledge(session, app, case, mail)
    return IngestOutcome(
        Disposition.CASE,
        case.id,
        new_case=True,
        outbound_ids=[ack.id] if ack and ack.id is not None else [],
    )


# Stored mails with these Message-IDs still waiting for ingest, for awaited_mail.
_RECEIVED_WITH_ID = (
    select(col(RawMessage.id), col(RawMessage.reason))
    .where(
        col(RawMessage.message_id).in_(bindparam("ids", expanding=True)),
        col(RawMessage.status) == RawStatus.RECEIVED,
        col(RawMessage.id) != bindparam("own"),
    )
    .order_by(col(RawMessage.id))
    .limit(20)
)


def awaited_mail(session: Session, app: App, raw: RawMessage, mail: ParsedMail) -> int | None:
    """The stored but not yet ingested mail this one answers (In-Reply-To, References), when
    this one would otherwise open a case: a follow-up sent seconds after its complaint, or
    both in one backlog, meets its first mail still `received` in a batch behind it or in
    another worker's batch. It waits for it, for at most follow_up_wait_seconds in all.

    Not for a mail that itself waits with a higher id: two mails naming each other (a forger
    can write that) would otherwise wait for each other until the limit.
    """
    refs = [*mail.in_reply_to, *mail.references][-50:]
    if not refs or waited_ms(raw) >= app.policy.limits.follow_up_wait_seconds * 1000:
        return None
    for found, reason in session.execute(_RECEIVED_WITH_ID, {"ids": refs, "own": raw.id}):
        if found < raw.id or not (reason or "").startswith(_WAITS):
            return int(found)
    return None


_WAITS = "waits for raw message"
_WAITED = re.compile(r"\(waited (\d{1,9}) ms\)")


def waited_ms(raw: RawMessage) -> int:
    """How long this mail has waited so far, as its last wait wrote it in its reason (its
    arrival time is no clock for this: a backlog's mails arrived long ago)."""
    found = _WAITED.search(raw.reason or "") if (raw.reason or "").startswith(_WAITS) else None
    return int(found.group(1)) if found else 0


def wait_for(raw: RawMessage, answered: int) -> IngestOutcome:
    """Leave the mail `received` to go again alone; the wait is no failed attempt."""
    first, most = FOLLOW_UP_RETRY_MS
    waited = waited_ms(raw)
    delay = min(max(first, waited // 4), most)
    raw.attempts = max(raw.attempts - 1, 0)
    raw.reason = f"{_WAITS} {answered}, the mail it answers (waited {waited + delay} ms)"
    return IngestOutcome(waits=raw.id, wait_ms=delay)


def _subaddress_head(address: str) -> str:
    """ "TS-2026-000123" of complaints+TS-2026-000123.k3f9x2@…, the case of a reply address."""
    return address.partition("@")[0].partition("+")[2].partition(".")[0]


def lock_batch_senders(session: Session, app: App, raws: Iterable[RawMessage]) -> None:
    """Every address lock a batch needs, up front and in one sorted order: each sender, and
    the complainant of each case a mail names (subject tag, or a reply address of ours, not
    yet verified: a lock too many costs nothing), whom a staff command may write to.

    The same locks as the outbox's per-recipient budget, so concurrent batches over the same
    addresses queue instead of deadlocking (taken one by one in arrival order, two batches
    each held what the other waited for); and a sender's mails are ingested one transaction
    at a time, so a follow-up finds its first mail's case committed, or finds that mail still
    waiting and waits for it (awaited_mail).
    """
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: one writer at a time
    senders: list[str] = []
    numbers: set[str] = set()
    prefix = app.policy.case_number_prefix
    for raw in raws:
        addressing = read_addressing(raw.raw)
        senders.append(addressing.sender)
        numbers.update(case_tags(addressing.subject, prefix))
        numbers.update(
            number
            for address in addressing.recipients
            for number in case_tags(f"[{_subaddress_head(address)}]", prefix)
        )
    complainants: Iterable[str] = (
        session.execute(
            select(col(Case.complainant_email)).where(col(Case.number).in_(sorted(numbers)[:200]))
        ).scalars()
        if numbers
        else []
    )
    lock_senders(session, [*senders, *complainants])


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
        row = gate.execute(
            select(col(RawMessage.status), col(RawMessage.attempts)).where(
                col(RawMessage.id) == raw_id
            )
        ).first()
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
        lock_batch_senders(session, app, [raw])
        return process(session, app, raw)


def process(
    session: Session,
    app: App,
    raw: RawMessage,
    numbers: CaseNumbers | None = None,
    stored: SameMessageId | None = None,
) -> IngestOutcome:
    """The work on one claimed, row-locked mail, inside the caller's transaction."""
    if raw.size > app.policy.limits.max_message_bytes:
        quarantine_row(session, raw, f"larger than {app.policy.limits.max_message_bytes} bytes")
        return IngestOutcome(Disposition.QUARANTINED)
    try:
        mail = parse_mail(raw.raw)
    except MailParseError as e:
        quarantine_row(session, raw, f"cannot parse: {e}")
        return IngestOutcome(Disposition.QUARANTINED)
    outcome = dispose(session, app, raw, mail, numbers)
    if outcome.waits is not None:
        session.add(raw)
        return outcome
    log_message_id_collision(session, raw, outcome.case_id, stored)
    raw.status, raw.disposition = RawStatus.PROCESSED, outcome.disposition
    raw.case_id, raw.processed_at = outcome.case_id, utcnow()
    session.add(raw)
    return outcome


def claim_first_deliveries(app: App, raw_ids: Sequence[int]) -> tuple[list[int], list[int]]:
    """Count one attempt on every mail of a batch delivered for the first time, in one
    transaction; returns (those, the mails with an attempt behind them).

    A mail with an attempt behind it may be the one that killed the last worker: it goes the
    one-at-a-time way (ingest_message and its retry gate), never in a batch again.
    """
    with session_scope(app.db_url) as session:
        rows = session.execute(
            select(col(RawMessage.id), col(RawMessage.attempts))
            .where(col(RawMessage.id).in_(raw_ids), col(RawMessage.status) == RawStatus.RECEIVED)
            .order_by(col(RawMessage.id))
            .with_for_update()
        ).all()
        first = [raw_id for raw_id, attempts in rows if attempts == 0]
        if first:
            session.execute(
                update(RawMessage)
                .where(col(RawMessage.id).in_(first))
                .values(attempts=RawMessage.attempts + 1)
                .execution_options(synchronize_session=False)
            )
    return first, [raw_id for raw_id, attempts in rows if attempts > 0]


class IngestBatch(BatchStage[IngestOutcome]):
    """Ingest as a batch stage (workers.batches): one commit and one broker message for many
    mails, instead of three commits and a message each.

    Case numbers come from their own short statements (CaseNumbers.separate): the year's
    counter row stays locked only for its UPDATE, not until the batch commits, so batches in
    other threads run alongside; a rolled-back pass gives its numbers to the same mails again.
    """

    what = "ingest of raw message"
    alone_actor = "ingest_message"

    def admit(self, ids: Sequence[int]) -> tuple[list[int], list[int]]:
        first, retry = claim_first_deliveries(self.app, ids)
        self.numbers = CaseNumbers.separate(self.app.db_url)
        return first, retry

    def begin(self, session: Session, savepoints: bool) -> None:
        if savepoints:
            self.numbers.reuse_taken()

    def load(self, session: Session, ids: Sequence[int]) -> Iterable[tuple[int, RawMessage]]:
        raws = list(
            session.execute(
                select(RawMessage)
                .where(col(RawMessage.id).in_(ids), col(RawMessage.status) == RawStatus.RECEIVED)
                .order_by(col(RawMessage.id))
                .with_for_update()
            ).scalars()
        )
        self.stored = stored_by_message_id(session, raws)
        lock_batch_senders(session, self.app, raws)
        return [(raw.id, raw) for raw in raws]

    def work(self, session: Session, row: RawMessage) -> IngestOutcome:
        return process(session, self.app, row, self.numbers, self.stored)

    def one(self, item_id: int) -> IngestOutcome:
        return ingest(self.app, item_id)

    def set_aside(self, item_id: int, error: BaseException) -> None:
        record_failure(self.app, item_id, error)

    def give_up(self, item_id: int, reason: str) -> bool:
        """A mail that ran past its time budget is quarantined with the reason, never tried
        again on its own: it would only run out of time again (an operator may replay it)."""
        give_up_on_mail(self.app, item_id, f"ingest {reason}")
        return True

    def next_hop(self, results: list[IngestOutcome]) -> None:
        pass_on(results)


def pass_on(outcomes: list[IngestOutcome]) -> None:
    """The replies to the sender, the new cases to classification, and a follow-up that
    waits for its first mail back to ingest on its own, a little later."""
    for outcome in outcomes:
        if outcome.waits is not None:
            hops.alone(IngestBatch.alone_actor, outcome.waits, outcome.wait_ms)
    hops.after_ingest(
        [i for outcome in outcomes for i in outcome.outbound_ids],
        [o.case_id for o in outcomes if o.new_case and o.case_id is not None],
    )
