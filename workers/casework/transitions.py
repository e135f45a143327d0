"""The case lifecycle as a state machine: which trigger moves a case from which state, and who
may pull it.

Pure data and functions. `apply` answers "what happens if this actor pulls this trigger now":
the steps to record, or a `TransitionRefused` whose reason a person can read in zh-CN and en.
The lifecycle actor records the steps; the commands module simulates them for a staff mail.
State names are a public contract (stored on cases, shown in reports): never rename them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The machine's states are the case statuses, defined with the other row states in models.
from models.states import CaseState as State


class Actor(StrEnum):
    STAFF = "staff"
    COMPLAINANT = "complainant"
    SYSTEM = "system"  # the scheduler


class Trigger(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    NEED_INFO = "need_info"
    INFO_SUPPLIED = "info_supplied"
    INFO_TIMEOUT = "info_timeout"
    RESOLVE = "resolve"
    REQUEST_REVIEW = "request_review"
    REVIEW_ACCEPT = "review_accept"
    REVIEW_RESULT = "review_result"
    CLOSE = "close"
    REOPEN = "reopen"
    WITHDRAW = "withdraw"


@dataclass(frozen=True)
class Transition:
    source: State
    target: State
    trigger: Trigger
    allowed_actors: frozenset[Actor]


@dataclass(frozen=True)
class Step:
    source: State
    target: State
    trigger: Trigger


@dataclass(frozen=True)
class Refusal:
    """Why a trigger was refused: a stable code and the same sentence in both languages."""

    code: str
    zh: str
    en: str

    def text(self, language: str) -> str:
        return self.en if language.lower().startswith("en") else self.zh


class TransitionRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.en)
        self.refusal = refusal


_S, _C, _Y = Actor.STAFF, Actor.COMPLAINANT, Actor.SYSTEM
_STAFF = frozenset({_S})
_COMPLAINANT = frozenset({_C})

TRANSITIONS: tuple[Transition, ...] = (
    Transition(State.RECEIVED, State.ACCEPTED, Trigger.ACCEPT, _STAFF),
    # Staff may accept without waiting when the information arrived another way (phone).
    Transition(State.AWAITING_INFO, State.ACCEPTED, Trigger.ACCEPT, _STAFF),
    Transition(State.RECEIVED, State.NOT_ACCEPTED, Trigger.REJECT, _STAFF),
    Transition(State.AWAITING_INFO, State.NOT_ACCEPTED, Trigger.REJECT, _STAFF),
    Transition(State.RECEIVED, State.AWAITING_INFO, Trigger.NEED_INFO, _STAFF),
    Transition(State.AWAITING_INFO, State.RECEIVED, Trigger.INFO_SUPPLIED, _COMPLAINANT),
    Transition(State.AWAITING_INFO, State.NOT_ACCEPTED, Trigger.INFO_TIMEOUT, frozenset({_Y})),
    Transition(State.ACCEPTED, State.RESOLVED, Trigger.RESOLVE, _STAFF),
    Transition(State.RESOLVED, State.REVIEW_REQUESTED, Trigger.REQUEST_REVIEW, _COMPLAINANT),
    # The review right runs its full window even when the case was closed early (staff #close
    # after a call-back) or closed by the scheduler while the request was on its way: a timely
    # request reopens into review. The caller checks the window; `apply` refuses this move
    # after a final review result (`reviewed=True`).
    Transition(State.CLOSED, State.REVIEW_REQUESTED, Trigger.REQUEST_REVIEW, _COMPLAINANT),
    Transition(State.REVIEW_REQUESTED, State.UNDER_REVIEW, Trigger.REVIEW_ACCEPT, _STAFF),
    Transition(State.UNDER_REVIEW, State.REVIEW_RESOLVED, Trigger.REVIEW_RESULT, _STAFF),
    # The scheduler closes when the review window passes; staff close after the call-back.
    Transition(State.RESOLVED, State.CLOSED, Trigger.CLOSE, frozenset({_S, _Y})),
    Transition(State.REVIEW_RESOLVED, State.CLOSED, Trigger.CLOSE, frozenset({_S, _Y})),
    Transition(State.RECEIVED, State.WITHDRAWN, Trigger.WITHDRAW, _COMPLAINANT),
    Transition(State.AWAITING_INFO, State.WITHDRAWN, Trigger.WITHDRAW, _COMPLAINANT),
    Transition(State.ACCEPTED, State.WITHDRAWN, Trigger.WITHDRAW, _COMPLAINANT),
    # Reopen goes back to investigation. A closed case whose review is decided stays closed:
    # `apply` refuses that with `reviewed=True`, since `closed` alone does not tell.
    Transition(State.RESOLVED, State.ACCEPTED, Trigger.REOPEN, _STAFF),
    Transition(State.CLOSED, State.ACCEPTED, Trigger.REOPEN, _STAFF),
    Transition(State.NOT_ACCEPTED, State.ACCEPTED, Trigger.REOPEN, _STAFF),
    # A withdrawal may have been forged, or the complainant changed their mind by phone: staff
    # can take the case up again (issue 11).
    Transition(State.WITHDRAWN, State.ACCEPTED, Trigger.REOPEN, _STAFF),
)

# No trigger leaves these without a staff reopen, except a timely review request on a case
# closed from `resolved`.
TERMINAL_STATES = frozenset({State.NOT_ACCEPTED, State.CLOSED, State.WITHDRAWN})
_RESULT_SENT = frozenset(
    {State.RESOLVED, State.REVIEW_REQUESTED, State.UNDER_REVIEW, State.REVIEW_RESOLVED}
)
_BEFORE_RESULT = frozenset({State.RECEIVED, State.AWAITING_INFO, State.ACCEPTED})
# `resolve` from these accepts first, so both steps are on the record.
_ACCEPTABLE = frozenset(t.source for t in TRANSITIONS if t.trigger == Trigger.ACCEPT)
_TRIGGER_VALUES = frozenset(t.value for t in Trigger)
# A closed case whose review was decided is final: these no longer leave `closed`.
_NOT_AFTER_REVIEW = frozenset({Trigger.REOPEN, Trigger.REQUEST_REVIEW})

STATE_LABELS: dict[State, tuple[str, str]] = {
    State.RECEIVED: ("已收到", "received"),
    State.AWAITING_INFO: ("待补充材料", "awaiting information"),
    State.ACCEPTED: ("已受理（调查中）", "accepted (under investigation)"),
    State.NOT_ACCEPTED: ("不予受理", "not accepted"),
    State.RESOLVED: ("已办结", "resolved"),
    State.REVIEW_REQUESTED: ("已申请复查", "review requested"),
    State.UNDER_REVIEW: ("复查中", "under review"),
    State.REVIEW_RESOLVED: ("复查已结论", "review decided"),
    State.CLOSED: ("已结案", "closed"),
    State.WITHDRAWN: ("已撤回", "withdrawn"),
}

# Keyed by str: refusals look up the word staff wrote, a trigger or not.
TRIGGER_LABELS: dict[str, tuple[str, str]] = {
    Trigger.ACCEPT: ("受理", "accept"),
    Trigger.REJECT: ("不予受理", "reject"),
    Trigger.NEED_INFO: ("要求补充材料", "ask for information"),
    Trigger.INFO_SUPPLIED: ("补充材料", "supply information"),
    Trigger.INFO_TIMEOUT: ("补充材料逾期", "information deadline"),
    Trigger.RESOLVE: ("办结", "resolve"),
    Trigger.REQUEST_REVIEW: ("申请复查", "request a review"),
    Trigger.REVIEW_ACCEPT: ("复查受理", "accept the review"),
    Trigger.REVIEW_RESULT: ("复查结论", "give the review result"),
    Trigger.CLOSE: ("结案", "close"),
    Trigger.REOPEN: ("重开", "reopen"),
    Trigger.WITHDRAW: ("撤回", "withdraw"),
}

# code -> (zh, en); {trigger} and {state} are filled with the labels above.
REFUSAL_MESSAGES: dict[str, tuple[str, str]] = {
    "unknown_trigger": ("未知操作「{trigger}」。", "Unknown action '{trigger}'."),
    "actor_not_allowed": (
        "「{trigger}」不能由{actor}执行。",
        "'{trigger}' cannot be done by the {actor}.",
    ),
    "already": ("案件已经是「{state}」状态。", "The case is already in the state '{state}'."),
    "withdrawn": (
        "投诉人已撤回投诉，案件不能再处理；如需继续处理，请先重开（#重开）。",
        "The complainant withdrew the complaint; the case cannot be worked any more. Reopen it "
        "first (#reopen).",
    ),
    "final_review": (
        "复查结论为最终结论，不能{trigger}。",
        "The review result is final; cannot {trigger}.",
    ),
    "ended": (
        "案件已结束（当前：{state}），不能{trigger}；如需继续处理，请先重开（#重开）。",
        "The case has ended (now {state}); cannot {trigger}. Reopen it first (#reopen).",
    ),
    "nothing_to_close": (
        "案件已结束（当前：{state}），无需结案。",
        "The case has already ended (now {state}); there is nothing to close.",
    ),
    "result_sent": (
        "处理结果已发出（当前：{state}），不能{trigger}。",
        "The result has already been sent (now {state}); cannot {trigger}.",
    ),
    "not_resolved": (
        "案件尚未办结（当前：{state}），不能{trigger}；请先办结（#办结）。",
        "The case is not resolved yet (now {state}); cannot {trigger}. Resolve it first "
        "(#resolve).",
    ),
    "review_pending": (
        "复查尚未结束（当前：{state}），不能{trigger}。",
        "A review is in progress (now {state}); cannot {trigger}.",
    ),
    "no_review_requested": (
        "投诉人没有申请复查（当前：{state}），不能{trigger}。",
        "The complainant has not asked for a review (now {state}); cannot {trigger}.",
    ),
    "review_not_accepted": (
        "复查尚未受理，请先复查受理（#复查受理）。",
        "The review is not accepted yet; accept it first (#review-accept).",
    ),
    "still_open": (
        "案件仍在处理中（当前：{state}），无需重开。",
        "The case is still open (now {state}); there is nothing to reopen.",
    ),
    "not_awaiting_info": (
        "案件没有在等待补充材料（当前：{state}）。",
        "The case is not waiting for information (now {state}).",
    ),
    "not_allowed": (
        "当前状态「{state}」下不能{trigger}。",
        "Cannot {trigger} while the case is {state}.",
    ),
}

_ACTOR_LABELS: dict[Actor, tuple[str, str]] = {
    Actor.STAFF: ("工作人员", "staff"),
    Actor.COMPLAINANT: ("投诉人", "complainant"),
    Actor.SYSTEM: ("系统", "system"),
}


def refused_reason(code: str, state: State, trigger: str, actor: Actor = Actor.STAFF) -> Refusal:
    """The refusal `code` for `trigger` in `state`, worded in both languages."""
    zh, en = REFUSAL_MESSAGES[code]
    trigger_zh, trigger_en = TRIGGER_LABELS.get(trigger, (trigger, trigger))
    state_zh, state_en = STATE_LABELS[state]
    actor_zh, actor_en = _ACTOR_LABELS[actor]
    return Refusal(
        code,
        zh.format(trigger=trigger_zh, state=state_zh, actor=actor_zh),
        en.format(trigger=trigger_en, state=state_en, actor=actor_en),
    )


def transitions_from(state: State) -> tuple[Transition, ...]:
    return tuple(t for t in TRANSITIONS if t.source == state)


def _find(state: State, trigger: Trigger) -> Transition | None:
    return next((t for t in transitions_from(state) if t.trigger == trigger), None)


def apply(state: State, trigger: str, actor: Actor, *, reviewed: bool = False) -> list[Step]:
    """The steps that `actor` pulling `trigger` on a case in `state` records, in order.

    `reviewed` says the case has had a final review result (needed for a `closed` case, whose
    state alone does not tell). Raises `TransitionRefused` when the move is not allowed.
    `resolve` on a case that is not accepted yet accepts it first: two steps.
    """
    if trigger not in _TRIGGER_VALUES:
        raise TransitionRefused(refused_reason("unknown_trigger", state, trigger, actor))
    trig = Trigger(trigger)
    if trig == Trigger.RESOLVE and actor == Actor.STAFF and state in _ACCEPTABLE:
        accepted = apply(state, Trigger.ACCEPT, actor)
        return accepted + apply(State.ACCEPTED, trig, actor)
    transition = _find(state, trig)
    if trig in _NOT_AFTER_REVIEW and reviewed and state == State.CLOSED:
        transition = None
    if transition is None:
        raise TransitionRefused(refused_reason(_refusal_code(state, trig, reviewed), state, trig))
    if actor not in transition.allowed_actors:
        raise TransitionRefused(refused_reason("actor_not_allowed", state, trig, actor))
    return [Step(state, transition.target, trig)]


def _refusal_code(state: State, trigger: Trigger, reviewed: bool) -> str:
    """Pick the most helpful reason for a trigger that has no transition from `state`."""
    if state == State.WITHDRAWN:
        return "withdrawn"
    if trigger in {Trigger.INFO_SUPPLIED, Trigger.INFO_TIMEOUT}:
        return "not_awaiting_info"
    decided = state == State.REVIEW_RESOLVED or (state == State.CLOSED and reviewed)
    if trigger == Trigger.REOPEN:
        return "final_review" if decided else "still_open"
    if any(t.trigger == trigger and t.target == state for t in TRANSITIONS):
        return "already"
    if decided and (trigger == Trigger.REQUEST_REVIEW or state == State.CLOSED):
        return "final_review"
    if state in TERMINAL_STATES:
        return "nothing_to_close" if trigger == Trigger.CLOSE else "ended"
    return _open_refusal_code(state, trigger)


def _open_refusal_code(state: State, trigger: Trigger) -> str:
    if trigger in {Trigger.ACCEPT, Trigger.REJECT, Trigger.NEED_INFO, Trigger.WITHDRAW}:
        return "result_sent" if state in _RESULT_SENT else "not_allowed"
    if trigger in {Trigger.CLOSE, Trigger.REQUEST_REVIEW}:
        if state in {State.REVIEW_REQUESTED, State.UNDER_REVIEW}:
            return "review_pending"
        return "not_resolved" if state in _BEFORE_RESULT else "not_allowed"
    if trigger == Trigger.REVIEW_RESULT and state == State.REVIEW_REQUESTED:
        return "review_not_accepted"
    if trigger in {Trigger.REVIEW_ACCEPT, Trigger.REVIEW_RESULT}:
        return "no_review_requested"
    return "result_sent" if state in _RESULT_SENT else "not_allowed"
