"""Clock actor: act on one due deadline — a reminder, an escalation tier, or its expiry (the
one-month rule, no information in time, the review window passed).

The scheduler enqueues a deadline's id when its next_action_at has come; `clockplan.decide`
says what is due. Mails, the row's progress (reminders_sent, escalation_tier, next_action_at)
and any automatic transition are written in one transaction, then the outbox rows go to the
sender actor. Idempotent: a second run finds next_action_at in the future and does nothing,
and each mail's dedupe key (`<deadline id>:r1:<staff id>`) never mails twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from models import Case, Deadline, DeadlineState, Event, OutboxStatus
from models.db import session_scope
from workers.app import App
from workers.casework.lifecycle import system_transition
from workers.casework.transitions import TERMINAL_STATES, State, Trigger
from workers.clock import letters as clock_mail
from workers.clock.deadlines import clock_of, close, meet, next_date
from workers.clock.escalation import escalation_ladder, leadership, reminder_recipients
from workers.clock.rules import SPECS, Action, Do, Expiry, Kind, decide
from workers.outbound.letters import notify_complainant
from workers.outbound.outbox import ReplyRequest, queue_reply

log = logging.getLogger(__name__)

# The outbox's per-address cap held a mail back: look again this much later, not every tick.
RETRY_AFTER = timedelta(minutes=15)


@dataclass
class DueOutcome:
    action: Action | None = None
    outbound_ids: list[int] = field(default_factory=list)


def run_due(app: App, deadline_id: int, now: datetime) -> DueOutcome:
    """Do what is due on one deadline at `now`; the outbox rows to send after commit."""
    with session_scope(app.db_url) as session:
        case_id = session.execute(
            select(col(Deadline.case_id)).where(col(Deadline.id) == deadline_id)
        ).scalar_one_or_none()
        if case_id is None:
            return DueOutcome()
        # Case first, then deadline: the order the lifecycle locks them in.
        case = session.get(Case, case_id, with_for_update=True)
        row = session.get(Deadline, deadline_id, with_for_update=True)
        if case is None or row is None or not _due(row, now):
            return DueOutcome()
        if State(case.status) in TERMINAL_STATES and not _owed_after_close(case, row):
            close(session, row, now, DeadlineState.CANCELLED, reason=f"case is {case.status}")
            return DueOutcome()
        return act(session, app, case, row, now)


def _owed_after_close(case: Case, row: Deadline) -> bool:
    """The call-back falls due after closing: reminded and escalated like any deadline."""
    return case.status == State.CLOSED and row.kind == Kind.CALLBACK


def _due(row: Deadline, now: datetime) -> bool:
    return (
        row.state in (DeadlineState.PENDING, DeadlineState.MISSED)
        and row.next_action_at is not None
        and row.next_action_at <= now
    )


def act(session: Session, app: App, case: Case, row: Deadline, now: datetime) -> DueOutcome:
    staff, groups, routing = app.policy.staff, app.policy.groups, app.policy.routing
    rungs = escalation_ladder(
        staff,
        groups,
        case.assigned_group,
        case.assignee,
        routing.intake_group,
        routing.leadership_group,
    )
    action = decide(clock_of(row), now, app.policy.sla, app.calendar, len(rungs))
    if action.do == Do.REMIND:
        people = reminder_recipients(
            staff, case.assigned_group, case.assignee, routing.intake_group
        )
        requests = clock_mail.reminder_requests(
            app, case, row, action.number, now, people, next_due=next_date(session, app, case)
        )
        return _mail_then(session, app, case, row, now, action, requests, "deadline_reminder")
    if action.do == Do.ESCALATE:
        requests = clock_mail.escalation_requests(
            app,
            case,
            row,
            action.number,
            now,
            rungs,
            action.next_action_at,
            next_due=next_date(session, app, case),
        )
        return _mail_then(session, app, case, row, now, action, requests, "deadline_escalated")
    if action.do == Do.EXPIRE:
        return expire(session, app, case, row, now, action)
    if action.missed:  # nobody on the ladder: recorded, shown by `cases list --overdue`
        _mark_missed(session, row, now)
    row.next_action_at = action.next_action_at
    session.add(row)
    return DueOutcome(action)


def _mail_then(
    session: Session,
    app: App,
    case: Case,
    row: Deadline,
    now: datetime,
    action: Action,
    requests: list[ReplyRequest],
    event: str,
) -> DueOutcome:
    """Queue every mail, then record the step; when the outbox held one back, try later."""
    rows = [queue_reply(session, app, case, req) for req in requests]
    ids = [
        r.id for r in rows if r is not None and r.status == OutboxStatus.QUEUED and r.id is not None
    ]
    if any(r is None for r in rows):
        row.next_action_at = now + RETRY_AFTER
        session.add(row)
        return DueOutcome(action, ids)
    if action.missed:
        _mark_missed(session, row, now)
    if action.do == Do.REMIND:
        row.reminders_sent = action.number
    else:
        row.escalation_tier = action.number
    row.next_action_at = action.next_action_at
    session.add(row)
    session.add(
        Event(
            case_id=case.id,
            at=now,
            actor="clock",
            kind=event,
            detail={
                "deadline": row.kind,
                "occasion": row.occasion,
                "number": action.number,
                "to": [r.to_addr for r in requests],
            },
        )
    )
    return DueOutcome(action, ids)


def _mark_missed(session: Session, row: Deadline, now: datetime) -> None:
    row.state = DeadlineState.MISSED
    session.add(
        Event(
            case_id=row.case_id,
            at=now,
            actor="clock",
            kind="deadline_missed",
            detail={
                "deadline": row.kind,
                "occasion": row.occasion,
                "due_at": row.due_at.isoformat(),
            },
        )
    )


# -- expiry -----------------------------------------------------------------------------------


def expire(
    session: Session, app: App, case: Case, row: Deadline, now: datetime, action: Action
) -> DueOutcome:
    expiry = SPECS[Kind(row.kind)].expiry
    if expiry == Expiry.MAJOR:
        return one_month(session, app, case, row, now, action)
    if expiry == Expiry.INFO_TIMEOUT and case.status == State.AWAITING_INFO:
        close(session, row, now, DeadlineState.MISSED, "deadline_missed")
        system_transition(session, app, case, Trigger.INFO_TIMEOUT, now)
        return _tell(
            session,
            app,
            case,
            row,
            now,
            "information_timeout",
            clock_mail.information_timeout_context(app, case, row),
        )
    if expiry == Expiry.CLOSE and case.status == State.RESOLVED:
        meet(session, row, now)
        system_transition(session, app, case, Trigger.CLOSE, now)
        return _tell(
            session,
            app,
            case,
            row,
            now,
            "case_closed",
            clock_mail.case_closed_context(app, case, row),
        )
    # The case moved on without the lifecycle closing this row: nothing left to do.
    close(session, row, now, DeadlineState.CANCELLED, reason=f"case is {case.status}")
    return DueOutcome(action)


def one_month(
    session: Session, app: App, case: Case, row: Deadline, now: datetime, action: Action
) -> DueOutcome:
    """Unresolved after a month: the case becomes major and the leadership group is told.
    The row stays open (missed) until the case is resolved: it is overdue until then."""
    if case.severity != "major":
        session.add(
            Event(
                case_id=case.id,
                at=now,
                actor="clock",
                kind="severity_changed",
                detail={"from": case.severity, "to": "major", "rule": "one_month"},
            )
        )
        case.severity, case.updated_at = "major", now
        session.add(case)
    leaders = leadership(app.policy.staff, app.policy.routing.leadership_group)
    requests = clock_mail.one_month_requests(app, case, row, leaders)
    outcome = _mail_then(
        session,
        app,
        case,
        row,
        now,
        Action(Do.ESCALATE, 1, missed=True),
        requests,
        "leadership_told",
    )
    return DueOutcome(action, outcome.outbound_ids)


def _tell(
    session: Session,
    app: App,
    case: Case,
    row: Deadline,
    now: datetime,
    kind: str,
    context: dict[str, Any],
) -> DueOutcome:
    """The complainant's notice of an automatic ending, threaded on their mail."""
    sent = notify_complainant(
        session,
        app,
        case,
        kind,
        occasion=str(row.id),
        at=now,
        context=context,
        written_by_staff=False,
    )
    return DueOutcome(None, [sent] if sent is not None else [])
