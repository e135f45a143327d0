"""The legal clock's rules, pure: which deadlines each transition opens, meets, pauses or
resumes; due moments; reminders at 50 % and 80 %; escalation tiers; pause, resume, extension.

Dates are worked out by hand on the 2026 State Council arrangement (National Day: 1-7 October
off, Saturday 10 October worked).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from config.policy_calendar import SlaPolicy
from config.policy_staff import Group, StaffMember
from workers.casework.transitions import TRANSITIONS, State, Step, Trigger
from workers.clock.escalation import escalation_ladder, reminder_recipients
from workers.clock.rules import (
    Clock,
    Do,
    Kind,
    Remaining,
    Unit,
    decide,
    due_at,
    effects_of,
    extended_due,
    next_action_time,
    remaining_at,
    reminder_times,
    resumed_due,
)
from workers.clock.workdays import WorkCalendar

CN = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()
SLA = SlaPolicy()


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=CN)


def step(source: State, target: State, trigger: Trigger) -> Step:
    return Step(source, target, trigger)


# -- what each transition does ----------------------------------------------------------------

S, T = State, Trigger


@pytest.mark.parametrize(
    ("the_step", "meets", "opens", "pause", "resume", "cancel_all"),
    [
        (
            step(S.RECEIVED, S.ACCEPTED, T.ACCEPT),
            {"first_feedback", "information_wait"},
            ["decision"],
            False,
            False,
            False,
        ),
        (
            step(S.RECEIVED, S.AWAITING_INFO, T.NEED_INFO),
            {"first_feedback"},
            ["information_wait"],
            True,
            False,
            False,
        ),
        (
            step(S.AWAITING_INFO, S.RECEIVED, T.INFO_SUPPLIED),
            {"information_wait"},
            ["first_feedback"],
            False,
            True,
            False,
        ),
        (
            step(S.AWAITING_INFO, S.ACCEPTED, T.ACCEPT),
            {"first_feedback", "information_wait"},
            ["decision"],
            False,
            True,
            False,
        ),
        # The decision opens the result notice; the result mail meets it (see below).
        (
            step(S.ACCEPTED, S.RESOLVED, T.RESOLVE),
            {"first_feedback", "decision", "one_month"},
            ["result_notice", "review_window"],
            False,
            False,
            False,
        ),
        (
            step(S.RESOLVED, S.REVIEW_REQUESTED, T.REQUEST_REVIEW),
            {"review_window"},
            ["review_ack"],
            False,
            False,
            False,
        ),
        (
            step(S.CLOSED, S.REVIEW_REQUESTED, T.REQUEST_REVIEW),
            {"review_window"},
            ["review_ack"],
            False,
            False,
            False,
        ),
        (
            step(S.REVIEW_REQUESTED, S.UNDER_REVIEW, T.REVIEW_ACCEPT),
            {"review_ack"},
            ["review_result"],
            False,
            False,
            False,
        ),
        (
            step(S.UNDER_REVIEW, S.REVIEW_RESOLVED, T.REVIEW_RESULT),
            {"review_result"},
            ["callback"],
            False,
            False,
            False,
        ),
        # Closing a resolved case owes the call-back within callback_hours (docs/process.md#call-back).
        (step(S.RESOLVED, S.CLOSED, T.CLOSE), {"review_window"}, ["callback"], False, False, True),
        (
            step(S.REVIEW_RESOLVED, S.CLOSED, T.CLOSE),
            {"callback", "review_window"},
            [],
            False,
            False,
            True,
        ),
        (
            step(S.AWAITING_INFO, S.NOT_ACCEPTED, T.INFO_TIMEOUT),
            {"first_feedback"},
            [],
            False,
            False,
            True,
        ),
        (step(S.ACCEPTED, S.WITHDRAWN, T.WITHDRAW), set(), [], False, False, True),
    ],
)
def test_each_transition_opens_meets_pauses_and_resumes(
    the_step: Step,
    meets: set[str],
    opens: list[str],
    pause: bool,
    resume: bool,
    cancel_all: bool,
) -> None:
    effects = effects_of(the_step)
    assert {str(k) for k in effects.meet} == meets
    assert [str(k) for k in effects.open] == opens
    assert (effects.pause, effects.resume, effects.cancel_all) == (pause, resume, cancel_all)


def test_every_transition_of_the_state_machine_touches_the_clock() -> None:
    for t in TRANSITIONS:
        effects = effects_of(Step(t.source, t.target, t.trigger))
        assert effects.meet or effects.open or effects.cancel_all, t


def test_a_review_after_an_early_close_drops_the_call_back_it_owed() -> None:
    # The review gets its own call-back after its result.
    effects = effects_of(step(S.CLOSED, S.REVIEW_REQUESTED, T.REQUEST_REVIEW))
    assert Kind.CALLBACK in effects.cancel and not effects.cancel_all


def test_a_reopen_starts_a_new_decision_and_drops_the_old_review_window() -> None:
    effects = effects_of(step(S.RESOLVED, S.ACCEPTED, T.REOPEN))
    assert Kind.DECISION in effects.open
    assert {Kind.REVIEW_WINDOW, Kind.CALLBACK} <= set(effects.cancel)


# -- due moments ------------------------------------------------------------------------------


def test_first_feedback_is_24_hours_or_the_shorter_severity_target() -> None:
    received = at(2026, 10, 12, 9, 0)
    assert due_at(Kind.FIRST_FEEDBACK, SLA, CAL, received) == at(2026, 10, 13, 9, 0)
    assert due_at(Kind.FIRST_FEEDBACK, SLA, CAL, received, "important") == at(2026, 10, 12, 15)
    assert due_at(Kind.FIRST_FEEDBACK, SLA, CAL, received, "major") == at(2026, 10, 12, 21)
    assert due_at(Kind.FIRST_FEEDBACK, SLA, CAL, received, "general") == at(2026, 10, 13, 9)


def test_decision_is_seven_working_days_skipping_national_day() -> None:
    # Accepted Wed 30 Sep: 8 Oct (1), 9 (2), Sat 10 worked (3), 12 (4), 13, 14, Thu 15 (7).
    assert due_at(Kind.DECISION, SLA, CAL, at(2026, 9, 30, 10)) == at(2026, 10, 15, 23, 59, 59)


def test_one_month_rule_counts_calendar_days() -> None:
    assert due_at(Kind.ONE_MONTH, SLA, CAL, at(2026, 10, 12, 9)) == at(2026, 11, 11, 9)


# -- reminders and escalation -----------------------------------------------------------------

FEEDBACK = Clock(Kind.FIRST_FEEDBACK, "pending", at(2026, 10, 12, 9), at(2026, 10, 13, 9))
# Accepted Mon 12 Oct 10:00; 7 working days: 13, 14, 15, 16, 19, 20, 21 → Wed 21 Oct 23:59:59.
DECISION = Clock(Kind.DECISION, "pending", at(2026, 10, 12, 10), at(2026, 10, 21, 23, 59, 59))


def test_reminders_fall_at_half_and_four_fifths_of_the_time() -> None:
    assert reminder_times(FEEDBACK, SLA.reminder_fractions, CAL) == [
        at(2026, 10, 12, 21, 0),
        at(2026, 10, 13, 4, 12),
    ]
    # 9 days 13:59:59 in all: half is 4 days 18:59:59.5, four fifths 7 days 15:59:59.2.
    assert reminder_times(DECISION, SLA.reminder_fractions, CAL) == [
        at(2026, 10, 17, 4, 59, 59, 500000),
        at(2026, 10, 20, 1, 59, 59, 200000),
    ]
    assert next_action_time(DECISION, SLA.reminder_fractions, CAL) == at(
        2026, 10, 17, 4, 59, 59, 500000
    )


def test_decide_walks_reminders_then_the_escalation_tiers() -> None:
    def clock(**kw: object) -> Clock:
        return Clock(**{**FEEDBACK.__dict__, **kw})

    early = decide(FEEDBACK, at(2026, 10, 12, 20), SLA, CAL, tiers=3)
    assert (early.do, early.next_action_at) == (Do.NOTHING, at(2026, 10, 12, 21))
    first = decide(FEEDBACK, at(2026, 10, 12, 21), SLA, CAL, tiers=3)
    assert (first.do, first.number, first.next_action_at) == (Do.REMIND, 1, at(2026, 10, 13, 4, 12))
    again = decide(clock(reminders_sent=1), at(2026, 10, 12, 22), SLA, CAL, tiers=3)
    assert (again.do, again.next_action_at) == (Do.NOTHING, at(2026, 10, 13, 4, 12))
    second = decide(clock(reminders_sent=1), at(2026, 10, 13, 4, 12), SLA, CAL, tiers=3)
    assert (second.do, second.number, second.next_action_at) == (Do.REMIND, 2, at(2026, 10, 13, 9))
    missed = decide(clock(reminders_sent=2), at(2026, 10, 13, 9), SLA, CAL, tiers=3)
    assert (missed.do, missed.number, missed.missed) == (Do.ESCALATE, 1, True)
    assert missed.next_action_at == at(2026, 10, 14, 9)
    tier2 = decide(clock(state="missed", escalation_tier=1), at(2026, 10, 14, 9), SLA, CAL, 3)
    assert (tier2.do, tier2.number, tier2.missed) == (Do.ESCALATE, 2, False)
    assert tier2.next_action_at == at(2026, 10, 15, 9)
    tier3 = decide(clock(state="missed", escalation_tier=2), at(2026, 10, 15, 9), SLA, CAL, 3)
    assert (tier3.do, tier3.number, tier3.next_action_at) == (Do.ESCALATE, 3, None)
    done = decide(clock(state="missed", escalation_tier=3), at(2026, 10, 20), SLA, CAL, 3)
    assert (done.do, done.next_action_at) == (Do.NOTHING, None)


def test_a_late_scheduler_sends_only_the_latest_reminder() -> None:
    late = decide(FEEDBACK, at(2026, 10, 13, 5), SLA, CAL, tiers=3)
    assert (late.do, late.number, late.next_action_at) == (Do.REMIND, 2, at(2026, 10, 13, 9))


def test_a_short_ladder_ends_early() -> None:
    missed = Clock(
        Kind.DECISION,
        "missed",
        DECISION.started_at,
        DECISION.due_at,
        reminders_sent=2,
        escalation_tier=1,
    )
    last = decide(missed, at(2026, 10, 23), SLA, CAL, tiers=2)
    assert (last.do, last.number, last.next_action_at) == (Do.ESCALATE, 2, None)
    nobody = decide(
        Clock(Kind.DECISION, "pending", DECISION.started_at, DECISION.due_at, 2),
        at(2026, 10, 22),
        SLA,
        CAL,
        tiers=0,
    )
    assert (nobody.do, nobody.missed, nobody.next_action_at) == (Do.NOTHING, True, None)


@pytest.mark.parametrize(
    ("kind", "missed"),
    [(Kind.ONE_MONTH, True), (Kind.INFORMATION_WAIT, True), (Kind.REVIEW_WINDOW, False)],
)
def test_windows_expire_at_their_end_without_reminders(kind: Kind, missed: bool) -> None:
    clock = Clock(kind, "pending", at(2026, 10, 12, 9), at(2026, 10, 19, 23, 59, 59))
    before = decide(clock, at(2026, 10, 16, 9), SLA, CAL, tiers=3)
    assert (before.do, before.next_action_at) == (Do.NOTHING, at(2026, 10, 19, 23, 59, 59))
    after = decide(clock, at(2026, 10, 19, 23, 59, 59), SLA, CAL, tiers=3)
    assert (after.do, after.missed) == (Do.EXPIRE, missed)


def test_paused_and_finished_clocks_have_nothing_due() -> None:
    for state in ("paused", "met", "cancelled"):
        clock = Clock(Kind.DECISION, state, DECISION.started_at, DECISION.due_at)
        assert decide(clock, at(2026, 11, 30), SLA, CAL, tiers=3).do == Do.NOTHING


# -- pause, resume, extension -----------------------------------------------------------------


def test_pause_and_resume_keep_the_remaining_working_days() -> None:
    # Paused Thu 15 Oct 15:00 with the decision due Wed 21 Oct: 16, 19, 20, 21 are left.
    left = remaining_at(Unit.WORKING_DAYS, DECISION.due_at, at(2026, 10, 15, 15), CAL)
    assert left == Remaining(4, None)
    # Resumed Mon 26 Oct: 27, 28, 29, 30 → Fri 30 Oct.
    assert resumed_due(Unit.WORKING_DAYS, left, at(2026, 10, 26, 9), CAL) == at(
        2026, 10, 30, 23, 59, 59
    )


def test_a_pause_over_national_day_keeps_the_working_days_too() -> None:
    # A clock due Tue 29 Sep, paused Mon 28 Sep, has one day left (29 Sep); resumed on Tue
    # 6 Oct (a holiday), that day is Thu 8 Oct: 7 Oct is off too.
    left = remaining_at(Unit.WORKING_DAYS, at(2026, 9, 29, 23, 59, 59), at(2026, 9, 28, 11), CAL)
    assert left == Remaining(1, None)
    assert resumed_due(Unit.WORKING_DAYS, left, at(2026, 10, 6, 10), CAL) == at(
        2026, 10, 8, 23, 59, 59
    )


def test_pause_and_resume_keep_the_remaining_clock_time_of_hour_and_day_limits() -> None:
    month_due = at(2026, 11, 11, 9)
    left = remaining_at(Unit.DAYS, month_due, at(2026, 10, 22, 9), CAL)
    assert left == Remaining(None, 20 * 86400)
    assert resumed_due(Unit.DAYS, left, at(2026, 11, 2, 9), CAL) == at(2026, 11, 22, 9)
    hours_left = remaining_at(Unit.HOURS, at(2026, 10, 13, 9), at(2026, 10, 12, 19), CAL)
    assert resumed_due(Unit.HOURS, hours_left, at(2026, 10, 14, 8), CAL) == at(2026, 10, 14, 22)


def test_an_extension_moves_the_decision_across_national_day() -> None:
    # Due Wed 30 Sep; three more working days: Thu 8, Fri 9 and the worked Saturday 10 Oct.
    assert extended_due(at(2026, 9, 30, 23, 59, 59), 3, CAL) == at(2026, 10, 10, 23, 59, 59)
    assert extended_due(at(2026, 9, 30, 23, 59, 59), 4, CAL) == at(2026, 10, 12, 23, 59, 59)


# -- who hears ---------------------------------------------------------------------------------

STAFF = [
    StaffMember(id="li", name="李专员", email="li@example.org", groups=["intake"]),
    StaffMember(id="wu", name="吴专员", email="wu@example.org", groups=["intake"], on_duty=False),
    StaffMember(id="sun", name="孙工", email="sun@example.org", groups=["tech"]),
    StaffMember(id="zhao", name="赵主管", email="zhao@example.org", groups=["intake"]),
    StaffMember(id="qian", name="钱经理", email="qian@example.org", groups=["intake"]),
    StaffMember(id="boss", name="王总", email="boss@example.org", groups=["leadership"]),
]
GROUPS = [
    Group(id="intake", name="客服部", supervisors=["zhao", "qian"]),
    Group(id="tech", name="技术支持部", supervisors=["zhao"]),
    Group(id="leadership", name="领导小组"),
]


def ids(people: list[StaffMember]) -> list[str]:
    return [p.id for p in people]


def test_reminders_go_to_the_assignee_else_the_groups_on_duty_members() -> None:
    assert ids(reminder_recipients(STAFF, "tech", "sun")) == ["sun"]
    assert ids(reminder_recipients(STAFF, "tech", None)) == ["sun"]
    assert ids(reminder_recipients(STAFF, None, None)) == ["li", "zhao", "qian"]  # wu is off
    assert ids(reminder_recipients(STAFF, "intake", "wu")) == ["li", "zhao", "qian"]


def test_the_ladder_is_the_groups_supervisors_then_leadership() -> None:
    assert [ids(r) for r in escalation_ladder(STAFF, GROUPS, None, None)] == [
        ["zhao"],
        ["qian"],
        ["boss"],
    ]
    # One supervisor only: tier 2 is the next rung, leadership.
    assert [ids(r) for r in escalation_ladder(STAFF, GROUPS, "tech", "sun")] == [["zhao"], ["boss"]]


def test_reminder_times_move_with_a_resumed_clock() -> None:
    # A resume shifts the period's start by the pause: from Thu 15 Oct 10:00 to Mon 26 Oct
    # 23:59:59 is 11 days 13:59:59, half of it 5 days 18:59:59.5.
    moved = Clock(
        Kind.DECISION,
        "pending",
        DECISION.started_at + timedelta(days=3),
        at(2026, 10, 26, 23, 59, 59),
    )
    half, _ = reminder_times(moved, SLA.reminder_fractions, CAL)
    assert half == at(2026, 10, 21, 4, 59, 59, 500000)
