"""The legal clock's rules, pure: which deadlines a transition opens, meets, pauses or resumes,
when each falls due, when its reminders fall, and what is due at a given moment.

Plain data in, plain data out: no database, no broker, no clock (every moment is passed in).
`workers.clock.deadlines` applies these to Deadline rows; `workers.clock.due` acts on what `decide` says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from config.policy_calendar import SlaPolicy
from models.states import DeadlineState
from workers.casework.transitions import State, Step
from workers.clock.workdays import WorkCalendar


class Kind(StrEnum):
    """Deadline kinds, stored in deadline.kind (a public contract: never rename)."""

    FIRST_FEEDBACK = "first_feedback"  # initial feedback to the complainant (24 h)
    ONE_MONTH = "one_month"  # unresolved after a month: the case becomes major
    DECISION = "decision"  # investigate and decide (7 working days)
    RESULT_NOTICE = "result_notice"  # result to the complainant after the decision
    INFORMATION_WAIT = "information_wait"  # the complainant's time to supply information
    REVIEW_WINDOW = "review_window"  # the complainant's time to ask for a review
    REVIEW_ACK = "review_ack"  # acknowledge a review request
    REVIEW_RESULT = "review_result"  # answer a review
    CALLBACK = "callback"  # follow-up call-back (回访) after closing or the review result


class Unit(StrEnum):
    HOURS = "hours"
    WORKING_DAYS = "working_days"
    DAYS = "days"  # calendar days, elapsed time


class Expiry(StrEnum):
    """What happens when a deadline's time is up."""

    ESCALATE = "escalate"  # staff owe it: reminders before, escalation tiers after
    MAJOR = "major"  # the one-month rule: severity becomes major, leadership told
    INFO_TIMEOUT = "info_timeout"  # not accepted: no information arrived
    CLOSE = "close"  # the review window passed: the case is closed


@dataclass(frozen=True)
class KindSpec:
    unit: Unit
    sla_field: str  # the SlaPolicy attribute holding the length
    expiry: Expiry
    pausable: bool  # stops while the case waits for information (补充材料)
    promised: bool  # the complainant was told this date (next_date)


SPECS: dict[Kind, KindSpec] = {
    Kind.FIRST_FEEDBACK: KindSpec(Unit.HOURS, "first_feedback_hours", Expiry.ESCALATE, False, True),
    # Paused too: regulations do not count the time the complainant takes to supply material.
    Kind.ONE_MONTH: KindSpec(Unit.DAYS, "escalate_to_major_after_days", Expiry.MAJOR, True, False),
    Kind.DECISION: KindSpec(
        Unit.WORKING_DAYS, "decision_working_days", Expiry.ESCALATE, True, True
    ),
    Kind.RESULT_NOTICE: KindSpec(
        Unit.WORKING_DAYS, "result_notice_working_days", Expiry.ESCALATE, True, True
    ),
    Kind.INFORMATION_WAIT: KindSpec(
        Unit.WORKING_DAYS, "information_wait_working_days", Expiry.INFO_TIMEOUT, False, False
    ),
    Kind.REVIEW_WINDOW: KindSpec(
        Unit.WORKING_DAYS, "review_window_working_days", Expiry.CLOSE, False, False
    ),
    Kind.REVIEW_ACK: KindSpec(
        Unit.WORKING_DAYS, "review_ack_working_days", Expiry.ESCALATE, True, True
    ),
    Kind.REVIEW_RESULT: KindSpec(
        Unit.WORKING_DAYS, "review_result_working_days", Expiry.ESCALATE, True, True
    ),
    Kind.CALLBACK: KindSpec(Unit.HOURS, "callback_hours", Expiry.ESCALATE, True, False),
}

# Kinds whose missed or past-due rows make a case "overdue" (`cases list --overdue`): what
# staff owe, and the one-month rule. The complainant's own windows never do.
OVERDUE_KINDS = frozenset(
    k for k, s in SPECS.items() if s.expiry in (Expiry.ESCALATE, Expiry.MAJOR)
)
PROMISED_KINDS = frozenset(k for k, s in SPECS.items() if s.promised)

KIND_LABELS: dict[Kind, tuple[str, str]] = {
    Kind.FIRST_FEEDBACK: ("初步答复", "first feedback"),
    Kind.ONE_MONTH: ("一个月内办结", "resolution within one month"),
    Kind.DECISION: ("作出处理决定", "decision"),
    Kind.RESULT_NOTICE: ("告知处理结果", "result notice"),
    Kind.INFORMATION_WAIT: ("补充材料期限", "time to supply information"),
    Kind.REVIEW_WINDOW: ("申请复查期限", "review window"),
    Kind.REVIEW_ACK: ("复查受理答复", "review acknowledgement"),
    Kind.REVIEW_RESULT: ("复查结论", "review result"),
    Kind.CALLBACK: ("回访", "follow-up call-back"),
}


def kind_label(kind: str, language: str) -> str:
    zh, en = KIND_LABELS.get(Kind(kind), (kind, kind))
    return en if language.lower().startswith("en") else zh


# -- when a deadline falls due ----------------------------------------------------------------


def length_of(kind: Kind, sla: SlaPolicy, severity: str | None = None) -> float:
    """The time a kind allows, in its unit. First feedback takes the severity's response
    target when that is shorter (重要: 6 h); never longer than first_feedback_hours, since the
    acknowledgement already promised that."""
    length = float(getattr(sla, SPECS[kind].sla_field))
    if kind == Kind.FIRST_FEEDBACK and severity in sla.severity_response_hours:
        length = min(length, float(sla.severity_response_hours[severity]))
    return length


def due_after(unit: Unit, length: float, start: datetime, cal: WorkCalendar) -> datetime:
    if unit == Unit.HOURS:
        return cal.add_hours(start, length)
    if unit == Unit.WORKING_DAYS:
        return cal.add_working_days(start, int(length))
    # Elapsed time through UTC, as add_hours does, whatever the zone's daylight saving.
    return (cal.local(start).astimezone(UTC) + timedelta(days=length)).astimezone(cal.tz)


def due_at(
    kind: Kind, sla: SlaPolicy, cal: WorkCalendar, start: datetime, severity: str | None = None
) -> datetime:
    return due_after(SPECS[kind].unit, length_of(kind, sla, severity), start, cal)


# -- pause, resume, extend --------------------------------------------------------------------


@dataclass(frozen=True)
class Remaining:
    """What is left of a paused clock: working days for working-day limits, else seconds."""

    working_days: int | None
    seconds: float | None


def remaining_at(unit: Unit, due: datetime, at: datetime, cal: WorkCalendar) -> Remaining:
    if unit == Unit.WORKING_DAYS:
        return Remaining(cal.remaining_working_days(at, due), None)
    return Remaining(None, max(0.0, (due - at).total_seconds()))


def resumed_due(unit: Unit, left: Remaining, at: datetime, cal: WorkCalendar) -> datetime:
    """The new due moment of a clock resumed at `at` with `left` still to run."""
    if unit == Unit.WORKING_DAYS:
        return cal.add_working_days(at, left.working_days or 0)
    seconds = left.seconds or 0.0
    return due_after(unit, seconds / 3600 if unit == Unit.HOURS else seconds / 86400, at, cal)


def extended_due(due: datetime, working_days: int, cal: WorkCalendar) -> datetime:
    """An extension of N working days counts from the old due day (延期), holidays skipped."""
    return cal.add_working_days(due, working_days)


# -- what a transition does to the clock ------------------------------------------------------


@dataclass(frozen=True)
class Effects:
    """Applied in this order: meet, cancel, pause, resume, open."""

    meet: tuple[Kind, ...] = ()
    cancel: tuple[Kind, ...] = ()
    cancel_all: bool = False
    pause: bool = False
    resume: bool = False
    open: tuple[Kind, ...] = ()


_ON_TARGET: dict[State, Effects] = {
    # Accepted: the feedback is given; after a reopen the old review window and call-back no
    # longer apply; a fresh decision clock starts.
    State.ACCEPTED: Effects(
        meet=(Kind.FIRST_FEEDBACK, Kind.INFORMATION_WAIT),
        cancel=(Kind.REVIEW_WINDOW, Kind.CALLBACK),
        open=(Kind.DECISION,),
    ),
    # Asking for information is feedback; the clocks wait while the complainant looks for it.
    State.AWAITING_INFO: Effects(
        meet=(Kind.FIRST_FEEDBACK,), pause=True, open=(Kind.INFORMATION_WAIT,)
    ),
    # Information supplied: the clocks run on, and staff owe a fresh first answer to it.
    State.RECEIVED: Effects(meet=(Kind.INFORMATION_WAIT,), open=(Kind.FIRST_FEEDBACK,)),
    # Resolved is the decision; the result notice runs from it and is met when the result mail
    # is queued (`deadlines.on_complainant_notified`), so the record shows both moments.
    State.RESOLVED: Effects(
        meet=(Kind.FIRST_FEEDBACK, Kind.DECISION, Kind.ONE_MONTH),
        open=(Kind.RESULT_NOTICE, Kind.REVIEW_WINDOW),
    ),
    # From a closed case (a timely request after an early close) the call-back is not owed yet:
    # the review gets its own after its result.
    State.REVIEW_REQUESTED: Effects(
        meet=(Kind.REVIEW_WINDOW,), cancel=(Kind.CALLBACK,), open=(Kind.REVIEW_ACK,)
    ),
    State.UNDER_REVIEW: Effects(meet=(Kind.REVIEW_ACK,), open=(Kind.REVIEW_RESULT,)),
    State.REVIEW_RESOLVED: Effects(meet=(Kind.REVIEW_RESULT,), open=(Kind.CALLBACK,)),
    # After a review, staff close once the call-back (opened at the review result) is done.
    State.CLOSED: Effects(meet=(Kind.CALLBACK, Kind.REVIEW_WINDOW), cancel_all=True),
    # Telling the complainant "not accepted" is an answer too.
    State.NOT_ACCEPTED: Effects(meet=(Kind.FIRST_FEEDBACK,), cancel_all=True),
    State.WITHDRAWN: Effects(cancel_all=True),
}


# Closing a resolved case (the window passed, or staff closed it early): docs/process.md wants a
# call-back within callback_hours of closing, so it starts now, after everything else ends.
_CLOSED_FROM_RESOLVED = Effects(meet=(Kind.REVIEW_WINDOW,), cancel_all=True, open=(Kind.CALLBACK,))


def effects_of(step: Step) -> Effects:
    """What one applied transition does to a case's deadlines."""
    if step.source == State.RESOLVED and step.target == State.CLOSED:
        return _CLOSED_FROM_RESOLVED
    effects = _ON_TARGET.get(step.target, Effects())
    leaves_wait = step.source == State.AWAITING_INFO and not effects.cancel_all
    if leaves_wait:
        return Effects(effects.meet, effects.cancel, effects.cancel_all, False, True, effects.open)
    return effects


# -- reminders, escalation, expiry: what is due now -------------------------------------------


class Do(StrEnum):
    NOTHING = "nothing"
    REMIND = "remind"  # reminder `number` to the owner
    ESCALATE = "escalate"  # escalation tier `number`
    EXPIRE = "expire"  # the kind's Expiry (one-month rule, info timeout, close)


@dataclass(frozen=True)
class Clock:
    """A Deadline row as plain data."""

    kind: Kind
    state: str  # pending | paused | met | missed | cancelled
    started_at: datetime  # when the running period began: reminders are fractions of it
    due_at: datetime
    reminders_sent: int = 0
    escalation_tier: int = 0


@dataclass(frozen=True)
class Action:
    do: Do
    number: int = 0
    missed: bool = False  # this action marks the deadline missed
    next_action_at: datetime | None = None  # when the scheduler must look again


def reminder_times(clock: Clock, fractions: list[float], cal: WorkCalendar) -> list[datetime]:
    """Reminders fall at these fractions of the time from start to due (50 %, 80 %)."""
    return [cal.time_at_fraction(clock.started_at, clock.due_at, f) for f in sorted(fractions)]


def next_action_time(clock: Clock, fractions: list[float], cal: WorkCalendar) -> datetime:
    """The first moment the scheduler has something to do on a pending clock."""
    if SPECS[clock.kind].expiry == Expiry.ESCALATE:
        ahead = reminder_times(clock, fractions, cal)[clock.reminders_sent :]
        if ahead:
            return ahead[0]
    return clock.due_at


def decide(clock: Clock, now: datetime, sla: SlaPolicy, cal: WorkCalendar, tiers: int) -> Action:
    """What is due on `clock` at `now`, and when to look next.

    A scheduler that was away sends only the latest reminder that has come (not a stale 50 %
    one at 80 %), and climbs one escalation tier per action: each tier gets a full
    `escalation_interval_hours` to act before the next is told. `tiers` is how many rungs the
    case's escalation ladder has.
    """
    spec = SPECS[clock.kind]
    if clock.state == DeadlineState.PENDING and now < clock.due_at:
        return _before_due(clock, now, sla.reminder_fractions, cal)
    if clock.state == DeadlineState.PENDING and spec.expiry != Expiry.ESCALATE:
        return Action(Do.EXPIRE, missed=spec.expiry != Expiry.CLOSE)
    if clock.state == DeadlineState.PENDING:
        return _escalate(1, now, sla, tiers, missed=True)
    if clock.state == DeadlineState.MISSED and spec.expiry == Expiry.ESCALATE:
        return _escalate(clock.escalation_tier + 1, now, sla, tiers)
    return Action(Do.NOTHING)


def _before_due(clock: Clock, now: datetime, fractions: list[float], cal: WorkCalendar) -> Action:
    if SPECS[clock.kind].expiry != Expiry.ESCALATE:
        return Action(Do.NOTHING, next_action_at=clock.due_at)
    times = reminder_times(clock, fractions, cal)
    reached = sum(t <= now for t in times)
    if reached <= clock.reminders_sent:
        return Action(Do.NOTHING, next_action_at=next_action_time(clock, fractions, cal))
    after = times[reached] if reached < len(times) else clock.due_at
    return Action(Do.REMIND, reached, next_action_at=after)


def _escalate(tier: int, now: datetime, sla: SlaPolicy, tiers: int, missed: bool = False) -> Action:
    if tier > tiers:
        return Action(Do.NOTHING, missed=missed)
    later = now + timedelta(hours=sla.escalation_interval_hours) if tier < tiers else None
    return Action(Do.ESCALATE, tier, missed=missed, next_action_at=later)
