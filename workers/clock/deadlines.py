"""The legal clock on a case: open, meet, pause, resume and move its Deadline rows.

Each function is called by the stage named in its docstring inside that stage's transaction,
and is cheap and idempotent: calling it twice for the same event changes nothing more. The
rules (which deadline, how long, when reminders fall) are `workers.clock.rules`; acting on a due
deadline (reminders, escalation, automatic transitions) is `workers.clock.due`.

Row states: pending (running) → met | missed | cancelled, or paused ⇄ pending. A missed row
stays open (closed_at NULL, "overdue") until the thing owed is done or the case ends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select
from sqlmodel import Session, col

from config.policy_calendar import SlaPolicy
from models import Case, Deadline, DeadlineState, Event
from models.db import insert_skipping_existing, table_of
from workers.app import App
from workers.casework.transitions import Step
from workers.clock.rules import (
    OVERDUE_KINDS,
    PROMISED_KINDS,
    SPECS,
    Clock,
    Effects,
    Kind,
    Remaining,
    due_at,
    effects_of,
    extended_due,
    next_action_time,
    remaining_at,
    resumed_due,
)
from workers.clock.workdays import WorkCalendar

RUNNING = (DeadlineState.PENDING, DeadlineState.PAUSED)
OPEN = (DeadlineState.PENDING, DeadlineState.PAUSED, DeadlineState.MISSED)
# Mails to the complainant that are no answer from a person (the 24 h feedback is a person's).
# Mail that is no answer from a person: it meets no feedback deadline. A confirmation request
# is answered to whoever wrote from the complainant's address (a forger cannot meet a deadline).
AUTOMATIC_KINDS = frozenset(
    {"acknowledgement", "information_timeout", "case_closed", "confirmation_request"}
)
RESULT_MAIL = "result"  # the template that tells the complainant the decision


# -- the contract with ingest, lifecycle and templates ---------------------------------------


def on_case_opened(session: Session, app: App, case: Case, at: datetime) -> None:
    """Ingest, when a complaint opens a case: first feedback and the one-month rule start.

    First feedback is due first_feedback_hours after receipt, or sooner when the severity is
    already known and its response target is shorter (`on_severity_set` tightens it later).

    Idempotent through the unique (case_id, kind, occasion) key: both rows are occasion 0 and
    go in as one INSERT that skips a row already there (a second call, a concurrent one), and
    only the rows it wrote get their event. Plain Core rows, not Deadline objects: nothing in
    the ingest transaction reads them back, and model construction plus a unit-of-work flush
    cost more than the rest of this function.
    """
    cal, sla = app.calendar, app.policy.sla
    rows = [
        _opening_values(cal, sla, case, kind, at) for kind in (Kind.FIRST_FEEDBACK, Kind.ONE_MONTH)
    ]
    # What open_case left pending (its case_opened event) goes first, as the autoflush of an
    # ORM query would do: event ids keep the order the case history is shown in.
    session.flush()
    written = set(session.execute(_insert_new_deadlines(session), rows).scalars())
    events = [
        _event_values(row, at, "deadline_opened", due_at=cal.local(row["due_at"]).isoformat())
        for row in rows
        if row["kind"] in written
    ]
    if events:
        session.execute(_INSERT_EVENT, events)


def on_steps(session: Session, app: App, case: Case, steps: list[Step], at: datetime) -> None:
    """Lifecycle, after each applied transition: open, meet, pause or resume deadlines."""
    for step in steps:
        apply_effects(session, app, case, effects_of(step), at)


def on_complainant_notified(
    session: Session, app: App, case: Case, kind: str, at: datetime
) -> None:
    """Lifecycle, when a mail of `kind` to the complainant is queued: any answer from a person
    (not the automatic acknowledgement) is the first feedback; the result mail meets the
    result notice that the decision opened."""
    if kind in AUTOMATIC_KINDS:
        return
    kinds = [Kind.FIRST_FEEDBACK, *([Kind.RESULT_NOTICE] if kind == RESULT_MAIL else [])]
    for row in open_rows(session, case.id, kinds):
        meet(session, row, at)


def callback_done(session: Session, case: Case, at: datetime) -> bool:
    """The call-back (回访) is recorded: staff `#close` on a closed case, or the complainant's
    rating. True when a call-back was owed."""
    rows = open_rows(session, case.id, [Kind.CALLBACK])
    for row in rows:
        meet(session, row, at)
    return bool(rows)


def callback_due(session: Session, case: Case) -> datetime | None:
    """When the call-back still owed on the case falls due, if one is."""
    rows = open_rows(session, case.id, [Kind.CALLBACK])
    return rows[-1].due_at if rows else None


def callbacks_on(app: App) -> bool:
    """Whether closing owes a call-back (`callbacks` under [sla] in the policy)."""
    return app.policy.sla.callbacks


def on_severity_set(session: Session, app: App, case: Case, at: datetime) -> None:
    """Routing, once case.severity is known: a shorter response target (重要: 6 h) moves the
    running first-feedback deadline earlier; a longer one never moves it later."""
    cal, sla = app.calendar, app.policy.sla
    for row in open_rows(session, case.id, [Kind.FIRST_FEEDBACK], states=(DeadlineState.PENDING,)):
        due = due_at(Kind.FIRST_FEEDBACK, sla, cal, row.started_at, case.severity)
        if due < row.due_at:
            _event(
                session,
                row,
                at,
                "deadline_moved",
                reason=f"severity {case.severity}",
                due_at=due.isoformat(),
            )
            row.due_at = due
            row.next_action_at = next_action_time(clock_of(row), sla.reminder_fractions, cal)
            session.add(row)


def extend(session: Session, app: App, case: Case, working_days: int, at: datetime) -> datetime:
    """Lifecycle, when an extension takes effect: moves the decision deadline; the new date.

    Counted from the old due day, holidays skipped. Reminders start over on the longer time; a
    missed decision becomes pending again (its escalation history stays in the events).
    """
    if working_days < 1:
        raise ValueError(f"an extension is at least one working day, got {working_days}")
    rows = open_rows(session, case.id, [Kind.DECISION])
    if not rows:
        raise ValueError(f"no decision deadline is running on {case.number}")
    row, cal = rows[-1], app.calendar
    old = row.due_at
    row.due_at = extended_due(old, working_days, cal)
    if row.state == DeadlineState.PAUSED:
        row.remaining_working_days = (row.remaining_working_days or 0) + working_days
        new = cal.add_working_days(at, row.remaining_working_days)
    else:
        row.state, row.started_at = DeadlineState.PENDING, at
        row.reminders_sent = row.escalation_tier = 0
        row.next_action_at = next_action_time(clock_of(row), app.policy.sla.reminder_fractions, cal)
        new = row.due_at
    row.detail = {
        **row.detail,
        "extensions": [
            *row.detail.get("extensions", []),
            {"at": at.isoformat(), "working_days": working_days, "from": old.isoformat()},
        ],
    }
    session.add(row)
    _event(session, row, at, "deadline_extended", working_days=working_days, due_at=new.isoformat())
    return new


def next_date(session: Session, app: App, case: Case) -> datetime | None:
    """Templates: the next date the complainant is promised something, or None."""
    stmt = select(func.min(Deadline.due_at)).where(
        col(Deadline.case_id) == case.id,
        col(Deadline.state) == DeadlineState.PENDING,
        col(Deadline.kind).in_(sorted(PROMISED_KINDS)),
    )
    found = session.execute(stmt).scalar_one_or_none()
    return app.calendar.local(found) if found is not None else None


def overdue_case_ids(session: Session, now: datetime) -> set[int]:
    """Cases with a missed deadline still owed, or a pending one past its due moment."""
    stmt = (
        select(col(Deadline.case_id))
        .where(
            col(Deadline.kind).in_(sorted(OVERDUE_KINDS)),
            col(Deadline.closed_at).is_(None),
            or_(
                col(Deadline.state) == DeadlineState.MISSED,
                and_(col(Deadline.state) == DeadlineState.PENDING, col(Deadline.due_at) <= now),
            ),
        )
        .distinct()
    )
    return set(session.execute(stmt).scalars())


def overdue_case_numbers(session: Session, now: datetime) -> set[str]:
    ids = overdue_case_ids(session, now)
    if not ids:
        return set()
    return set(session.execute(select(col(Case.number)).where(col(Case.id).in_(ids))).scalars())


# -- rows -------------------------------------------------------------------------------------


def clock_of(row: Deadline) -> Clock:
    return Clock(
        Kind(row.kind),
        row.state,
        row.started_at,
        row.due_at,
        row.reminders_sent,
        row.escalation_tier,
    )


def open_rows(
    session: Session,
    case_id: int | None,
    kinds: list[Kind] | None = None,
    states: tuple[str, ...] = OPEN,
) -> list[Deadline]:
    stmt = (
        select(Deadline)
        .where(
            col(Deadline.case_id) == case_id,
            col(Deadline.closed_at).is_(None),
            col(Deadline.state).in_(states),
        )
        .order_by(col(Deadline.id))
    )
    if kinds is not None:
        stmt = stmt.where(col(Deadline.kind).in_([str(k) for k in kinds]))
    return list(session.execute(stmt).scalars())


def apply_effects(session: Session, app: App, case: Case, effects: Effects, at: datetime) -> None:
    for row in open_rows(session, case.id, list(effects.meet)):
        meet(session, row, at)
    cancel = None if effects.cancel_all else list(effects.cancel)
    if effects.cancel_all or cancel:
        for row in open_rows(session, case.id, cancel):
            close(session, row, at, DeadlineState.CANCELLED)
    if effects.pause:
        for row in open_rows(session, case.id, states=(DeadlineState.PENDING,)):
            if SPECS[Kind(row.kind)].pausable:
                pause(session, app, row, at)
    if effects.resume:
        for row in open_rows(session, case.id, states=(DeadlineState.PAUSED,)):
            resume(session, app, row, at)
    for kind in effects.open:
        if kind != Kind.CALLBACK or callbacks_on(app):
            open_deadline(session, app, case, kind, at)


def open_deadline(session: Session, app: App, case: Case, kind: Kind, at: datetime) -> Deadline:
    """The running deadline of `kind` on the case, started at `at` unless one already runs."""
    running = open_rows(session, case.id, [kind], states=RUNNING)
    if running:
        return running[-1]
    last = session.execute(
        select(func.max(Deadline.occasion)).where(
            col(Deadline.case_id) == case.id, col(Deadline.kind) == str(kind)
        )
    ).scalar_one_or_none()
    row = _new_row(app, case, kind, 0 if last is None else last + 1, at)
    session.add(row)
    session.flush()
    _event(session, row, at, "deadline_opened", due_at=app.calendar.local(row.due_at).isoformat())
    return row


def _new_row(app: App, case: Case, kind: Kind, occasion: int, at: datetime) -> Deadline:
    cal, sla = app.calendar, app.policy.sla
    assert case.id is not None  # a deadline belongs to a case already written
    row = Deadline(
        case_id=case.id,
        kind=str(kind),
        occasion=occasion,
        started_at=at,
        due_at=due_at(kind, sla, cal, at, case.severity),
        detail={"opened_at": at.isoformat()},
    )
    row.next_action_at = next_action_time(clock_of(row), sla.reminder_fractions, cal)
    return row


def _opening_values(
    cal: WorkCalendar, sla: SlaPolicy, case: Case, kind: Kind, at: datetime
) -> dict[str, Any]:
    """The columns `_new_row` gives a Deadline of occasion 0, every one spelled out (a Core
    insert knows no model defaults)."""
    due = due_at(kind, sla, cal, at, case.severity)
    return {
        "case_id": case.id,
        "kind": str(kind),
        "occasion": 0,
        "started_at": at,
        "due_at": due,
        "state": DeadlineState.PENDING,
        "next_action_at": next_action_time(
            Clock(kind, DeadlineState.PENDING, at, due), sla.reminder_fractions, cal
        ),
        "reminders_sent": 0,
        "escalation_tier": 0,
        "paused_at": None,
        "remaining_working_days": None,
        "remaining_seconds": None,
        "closed_at": None,
        "detail": {"opened_at": at.isoformat()},
    }


_INSERT_EVENT = insert(table_of(Event))
_INSERT_DEADLINE: dict[str, Any] = {}  # dialect name -> INSERT .. ON CONFLICT DO NOTHING RETURNING


def _insert_new_deadlines(session: Session) -> Any:
    """INSERT into deadline that skips rows whose unique key exists, returning the kinds it
    wrote; built once per dialect (both that the project runs on spell ON CONFLICT alike)."""
    name = session.get_bind().dialect.name
    stmt = _INSERT_DEADLINE.get(name)
    if stmt is None:
        table = table_of(Deadline)
        stmt = _INSERT_DEADLINE[name] = insert_skipping_existing(session, table).returning(
            table.c.kind
        )
    return stmt


def meet(session: Session, row: Deadline, at: datetime) -> None:
    """The thing owed is done: met in time, or (a missed row) done late."""
    late = row.state == DeadlineState.MISSED
    close(
        session,
        row,
        at,
        DeadlineState.MISSED if late else DeadlineState.MET,
        "deadline_met",
        late=late,
    )


def close(
    session: Session,
    row: Deadline,
    at: datetime,
    state: str,
    event: str = "deadline_cancelled",
    **detail: Any,
) -> None:
    """End the row in `state`; nothing more is owed on it."""
    was = row.state
    row.state, row.closed_at, row.next_action_at = state, at, None
    session.add(row)
    _event(session, row, at, event, was=was, **detail)


def pause(session: Session, app: App, row: Deadline, at: datetime) -> None:
    left = remaining_at(SPECS[Kind(row.kind)].unit, row.due_at, at, app.calendar)
    row.state, row.paused_at, row.next_action_at = DeadlineState.PAUSED, at, None
    row.remaining_working_days, row.remaining_seconds = left.working_days, left.seconds
    session.add(row)
    _event(
        session,
        row,
        at,
        "deadline_paused",
        remaining_working_days=left.working_days,
        remaining_seconds=left.seconds,
    )


def resume(session: Session, app: App, row: Deadline, at: datetime) -> None:
    """Run on with the time that was left; reminders keep their place in the period."""
    cal = app.calendar
    left = Remaining(row.remaining_working_days, row.remaining_seconds)
    paused_for = at - (row.paused_at or at)
    row.due_at = resumed_due(SPECS[Kind(row.kind)].unit, left, at, cal)
    row.started_at = row.started_at + paused_for
    row.state, row.paused_at = DeadlineState.PENDING, None
    row.remaining_working_days = row.remaining_seconds = None
    row.next_action_at = next_action_time(clock_of(row), app.policy.sla.reminder_fractions, cal)
    session.add(row)
    _event(session, row, at, "deadline_resumed", due_at=cal.local(row.due_at).isoformat())


def _event(session: Session, row: Deadline, at: datetime, kind: str, **detail: Any) -> None:
    session.add(
        Event(
            case_id=row.case_id,
            at=at,
            actor="clock",
            kind=kind,
            detail={"deadline": row.kind, "occasion": row.occasion, **detail},
        )
    )


def _event_values(row: dict[str, Any], at: datetime, kind: str, **detail: Any) -> dict[str, Any]:
    """`_event` as the columns of a Core insert."""
    return {
        "case_id": row["case_id"],
        "raw_message_id": None,
        "at": at,
        "actor": "clock",
        "kind": kind,
        "from_status": None,
        "to_status": None,
        "detail": {"deadline": row["kind"], "occasion": row["occasion"], **detail},
    }
