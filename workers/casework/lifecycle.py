"""Apply a lifecycle trigger to a case in the database: state, dates, events, the legal clock.

The thin DB side of `workers.casework.transitions`: `apply_trigger` asks the state machine for the
steps (or its `TransitionRefused`), writes the case's state and date columns, one Event per
step (who, when, from, to, why), then tells the deadline engine (`deadlines.on_steps`). It
queues no mail: the caller that knows the occasion does (staff_mail, complainant_mail, the
scheduler). Runs inside the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from models import Case, Event
from workers.app import App
from workers.casework.transitions import Actor, State, Step, Trigger, apply
from workers.clock import deadlines

# Entering these ends the case for the clock and the reports (a staff reopen clears it).
_ENDED = frozenset({State.NOT_ACCEPTED, State.CLOSED, State.WITHDRAWN})


def apply_trigger(
    session: Session,
    app: App,
    case: Case,
    trigger: Trigger | str,
    actor: Actor,
    *,
    by: str,
    at: datetime,
    reason: str = "",
) -> list[Step]:
    """Pull `trigger` on `case` as `actor` (`by`: staff id, complainant address or "system").

    Raises `TransitionRefused` (nothing written) when the state machine refuses.
    """
    reviewed = case.review_decided_at is not None
    steps = apply(State(case.status), str(trigger), actor, reviewed=reviewed)
    for step in steps:
        set_dates(case, step, at)
        case.status = step.target.value
        detail = {"trigger": step.trigger.value, "actor_role": actor.value}
        if reason:
            detail["reason"] = reason
        session.add(
            Event(
                case_id=case.id,
                at=at,
                actor=by[:64],
                kind="status_changed",
                from_status=step.source.value,
                to_status=step.target.value,
                detail=detail,
            )
        )
    case.updated_at = at
    session.add(case)
    session.flush()
    deadlines.on_steps(session, app, case, steps, at)
    return steps


def set_dates(case: Case, step: Step, at: datetime) -> None:
    """The case's date columns that `step` sets (reports and the review window read them)."""
    match step.trigger:
        case Trigger.RESOLVE:
            case.result_sent_at = at  # the result mail is queued with the step
        case Trigger.REQUEST_REVIEW:
            case.review_requested_at = at
        case Trigger.REVIEW_RESULT:
            case.review_decided_at = case.review_decided_at or at  # set once: final
    if step.target in _ENDED:
        case.closed_at = at
    elif step.source in _ENDED:  # a reopen, or a timely review request on a closed case
        case.closed_at = None


def system_transition(
    session: Session, app: App, case: Case, trigger: Trigger | str, at: datetime
) -> list[int]:
    """The scheduler's transitions (CLOSE after the review window, INFO_TIMEOUT): apply + event.

    Queues no mail and returns [] : the scheduler queues its own notices (`case_closed`,
    `information_timeout`) once this returned, so a refused transition never mails.
    Raises `TransitionRefused` when the case moved meanwhile (e.g. a review was requested
    just before the window closed): the scheduler then skips the case.
    """
    apply_trigger(
        session, app, case, trigger, Actor.SYSTEM, by="system", at=at, reason="deadline passed"
    )
    return []
