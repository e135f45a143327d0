"""The case state machine: every allowed move, and every refusal with its readable reason."""

from __future__ import annotations

import itertools

import pytest

from workers.casework.transitions import (
    Actor,
    State,
    Step,
    TransitionRefused,
    Trigger,
    apply,
)

STAFF, COMPLAINANT, SYSTEM = Actor.STAFF, Actor.COMPLAINANT, Actor.SYSTEM

# The public contract, spelled out as plain strings: (from, trigger, actor, to).
ALLOWED = [
    ("received", "accept", STAFF, "accepted"),
    ("awaiting_info", "accept", STAFF, "accepted"),
    ("received", "reject", STAFF, "not_accepted"),
    ("awaiting_info", "reject", STAFF, "not_accepted"),
    ("received", "need_info", STAFF, "awaiting_info"),
    ("awaiting_info", "info_supplied", COMPLAINANT, "received"),
    ("awaiting_info", "info_timeout", SYSTEM, "not_accepted"),
    ("accepted", "resolve", STAFF, "resolved"),
    ("resolved", "request_review", COMPLAINANT, "review_requested"),
    # A timely request on a case closed from `resolved` (closed early, or by the scheduler
    # while the mail was on its way): the review right runs its whole window.
    ("closed", "request_review", COMPLAINANT, "review_requested"),
    ("review_requested", "review_accept", STAFF, "under_review"),
    ("under_review", "review_result", STAFF, "review_resolved"),
    ("resolved", "close", STAFF, "closed"),
    ("resolved", "close", SYSTEM, "closed"),
    ("review_resolved", "close", STAFF, "closed"),
    ("review_resolved", "close", SYSTEM, "closed"),
    ("received", "withdraw", COMPLAINANT, "withdrawn"),
    ("awaiting_info", "withdraw", COMPLAINANT, "withdrawn"),
    ("accepted", "withdraw", COMPLAINANT, "withdrawn"),
    ("withdrawn", "reopen", STAFF, "accepted"),  # issue 11: a forged withdrawal is undone
    ("resolved", "reopen", STAFF, "accepted"),
    ("closed", "reopen", STAFF, "accepted"),
    ("not_accepted", "reopen", STAFF, "accepted"),
]
# `resolve` before acceptance records the acceptance too.
CHAINED = {("received", "resolve", STAFF), ("awaiting_info", "resolve", STAFF)}


def test_state_names_are_the_public_contract() -> None:
    assert {s.value for s in State} == {
        "received",
        "accepted",
        "not_accepted",
        "awaiting_info",
        "resolved",
        "review_requested",
        "under_review",
        "review_resolved",
        "closed",
        "withdrawn",
    }


@pytest.mark.parametrize(("source", "trigger", "actor", "target"), ALLOWED)
def test_allowed_transition(source: str, trigger: str, actor: Actor, target: str) -> None:
    assert apply(State(source), trigger, actor) == [Step(State(source), State(target), trigger)]


@pytest.mark.parametrize("source", ["received", "awaiting_info"])
def test_resolve_before_acceptance_records_both_steps(source: str) -> None:
    steps = apply(State(source), "resolve", STAFF)
    assert [(s.source, s.target, s.trigger) for s in steps] == [
        (source, "accepted", "accept"),
        ("accepted", "resolved", "resolve"),
    ]


def test_everything_else_is_refused() -> None:
    allowed = {(s, t, a) for s, t, a, _ in ALLOWED} | CHAINED
    for state, trigger, actor in itertools.product(State, Trigger, Actor):
        if (state.value, trigger.value, actor) in allowed:
            continue
        with pytest.raises(TransitionRefused) as refused:
            apply(state, trigger, actor)
        assert refused.value.refusal.zh and refused.value.refusal.en


def refusal(state: str, trigger: str, actor: Actor = STAFF, *, reviewed: bool = False):
    with pytest.raises(TransitionRefused) as refused:
        apply(State(state), trigger, actor, reviewed=reviewed)
    return refused.value.refusal


@pytest.mark.parametrize(
    ("state", "trigger", "actor", "code", "zh", "en"),
    [
        ("received", "explode", STAFF, "unknown_trigger", "未知操作", "Unknown action 'explode'"),
        ("received", "accept", COMPLAINANT, "actor_not_allowed", "投诉人", "by the complainant"),
        ("received", "withdraw", STAFF, "actor_not_allowed", "工作人员", "by the staff"),
        ("awaiting_info", "info_timeout", STAFF, "actor_not_allowed", "工作人员", "staff"),
        ("resolved", "request_review", STAFF, "actor_not_allowed", "申请复查", "review"),
        ("accepted", "accept", STAFF, "already", "已受理", "already"),
        ("closed", "close", STAFF, "already", "已结案", "already in the state 'closed'"),
        ("not_accepted", "reject", STAFF, "already", "不予受理", "already"),
        ("withdrawn", "accept", STAFF, "withdrawn", "撤回", "withdrew"),
        ("review_resolved", "reopen", STAFF, "final_review", "最终结论", "final"),
        ("review_resolved", "request_review", COMPLAINANT, "final_review", "最终", "final"),
        ("closed", "accept", STAFF, "ended", "#重开", "#reopen"),
        ("not_accepted", "resolve", STAFF, "ended", "请先重开", "Reopen it first"),
        ("not_accepted", "close", STAFF, "nothing_to_close", "无需结案", "nothing to close"),
        ("resolved", "withdraw", COMPLAINANT, "result_sent", "处理结果已发出", "already been sent"),
        ("under_review", "resolve", STAFF, "result_sent", "不能办结", "cannot resolve"),
        ("accepted", "close", STAFF, "not_resolved", "#办结", "#resolve"),
        ("received", "request_review", COMPLAINANT, "not_resolved", "尚未办结", "not resolved"),
        ("review_requested", "close", SYSTEM, "review_pending", "复查尚未结束", "review is in"),
        ("resolved", "review_accept", STAFF, "no_review_requested", "没有申请复查", "not asked"),
        ("review_requested", "review_result", STAFF, "review_not_accepted", "#复查受理", "#review"),
        ("accepted", "reopen", STAFF, "still_open", "无需重开", "nothing to reopen"),
        ("accepted", "info_supplied", COMPLAINANT, "not_awaiting_info", "补充材料", "waiting"),
        ("accepted", "need_info", STAFF, "not_allowed", "不能要求补充材料", "Cannot ask"),
        ("accepted", "reject", STAFF, "not_allowed", "不能不予受理", "Cannot reject"),
    ],
)
def test_refusal_says_why(
    state: str, trigger: str, actor: Actor, code: str, zh: str, en: str
) -> None:
    refused = refusal(state, trigger, actor)
    assert refused.code == code
    assert zh in refused.zh
    assert en in refused.en
    assert refused.text("en") == refused.en
    assert refused.text("zh-CN") == refused.zh


def test_closed_after_a_review_result_cannot_be_reopened() -> None:
    assert apply(State.CLOSED, "reopen", STAFF)[0].target == State.ACCEPTED
    refused = refusal("closed", "reopen", reviewed=True)
    assert refused.code == "final_review"
    assert refused.en == "The review result is final; cannot reopen."
    assert refused.zh == "复查结论为最终结论，不能重开。"


def test_refusal_names_the_current_state_in_both_languages() -> None:
    refused = refusal("accepted", "close")
    assert "已受理" in refused.zh
    assert "accepted (under investigation)" in refused.en


def test_a_closed_case_reopens_into_review_only_before_a_review_result() -> None:
    assert apply(State.CLOSED, "request_review", COMPLAINANT) == [
        Step(State.CLOSED, State.REVIEW_REQUESTED, Trigger.REQUEST_REVIEW)
    ]
    refused = refusal("closed", "request_review", COMPLAINANT, reviewed=True)
    assert refused.code == "final_review" and "最终结论" in refused.zh
    # Staff cannot pull it for them, and only a complainant's request opens a review.
    assert refusal("closed", "request_review", STAFF).code == "actor_not_allowed"
