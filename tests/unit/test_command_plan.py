"""The plan of a whole staff mail: each command's outcome over the case's state."""

from __future__ import annotations

import pytest

from tests.unit.staffcommands import parse_command_line, parse_command_mail
from workers.casework.command_plan import command_trigger, plan
from workers.casework.transitions import State

TEXT = "已与商家核实，商家同意全额退款。"


@pytest.mark.parametrize(
    ("line", "trigger"),
    [
        ("#accept", "accept"),
        ("#reject no_facts", "reject"),
        ("#need-info x", "need_info"),
        ("#resolve x", "resolve"),
        ("#review-accept", "review_accept"),
        ("#review-result x", "review_result"),
        ("#close", "close"),
        ("#reopen", "reopen"),
        ("#reply x", None),
        ("#note x", None),
        ("#assign legal", None),
        ("#category other", None),
        ("#severity major", None),
        ("#extend 2 why", None),
        ("#merge TS-2026-000001", None),
        ("#malicious", None),
        ("#status", None),
        ("#help", None),
        ("#nonsense", None),
    ],
)
def test_command_trigger(line: str, trigger: str | None) -> None:
    assert command_trigger(parse_command_line(line)) == trigger


def outcomes(body: str, state: str, *, reviewed: bool = False) -> list[tuple]:
    mail = parse_command_mail(body)
    return [
        (o.command.name, o.ok, o.state.value, o.refusal.code if o.refusal else None)
        for o in plan(mail.commands, State(state), reviewed=reviewed)
    ]


def test_plan_with_a_refusal_in_the_middle() -> None:
    body = "#受理\n#复查受理\n#级别 重大\n#办结\n\n" + TEXT
    assert outcomes(body, "received") == [
        ("accept", True, "accepted", None),
        ("review-accept", False, "accepted", "no_review_requested"),
        ("severity", True, "accepted", None),
        ("resolve", True, "resolved", None),
    ]


def test_plan_refusal_reason_is_readable_in_both_languages() -> None:
    mail = parse_command_mail("#复查受理")
    refusal = plan(mail.commands, State.ACCEPTED)[0].refusal
    assert refusal is not None
    assert refusal.zh == "投诉人没有申请复查（当前：已受理（调查中）），不能复查受理。"
    assert "has not asked for a review" in refusal.en


def test_plan_resolve_on_a_received_case_records_the_acceptance() -> None:
    (outcome,) = plan(parse_command_mail("#resolve\n\n" + TEXT).commands, State.RECEIVED)
    assert [(s.source.value, s.target.value) for s in outcome.steps] == [
        ("received", "accepted"),
        ("accepted", "resolved"),
    ]


def test_plan_invalid_command_is_reported_and_the_rest_still_apply() -> None:
    assert outcomes("#accpet\n#accept\n#extend 3", "received") == [
        ("accpet", False, "received", "invalid_command"),
        ("accept", True, "accepted", None),
        ("extend", False, "accepted", "invalid_command"),
    ]
    mail = parse_command_mail("#accpet")
    refusal = plan(mail.commands, State.RECEIVED)[0].refusal
    assert refusal is not None and refusal.zh.startswith("未知命令 #accpet")


def test_plan_tracks_a_review_result_given_in_the_same_mail() -> None:
    assert outcomes("#复查结论\n#结案\n#重开\n\n维持原处理结果。", "under_review") == [
        ("review-result", True, "review_resolved", None),
        ("close", True, "closed", None),
        ("reopen", False, "closed", "final_review"),
    ]


def test_plan_reopen_after_close() -> None:
    assert outcomes("#reopen\n#need-info\n\nPlease send the invoice.", "closed") == [
        ("reopen", True, "accepted", None),
        ("need-info", False, "accepted", "not_allowed"),
    ]


def test_extend_only_while_a_deadline_runs() -> None:
    assert outcomes("#延期 3 等待鉴定结果", "accepted")[0][1] is True
    assert outcomes("#延期 3 等待鉴定结果", "resolved")[0][3] == "nothing_to_extend"


@pytest.mark.parametrize(
    ("state", "reviewed", "code", "zh", "en"),
    [
        ("withdrawn", False, "withdrawn", "投诉人已撤回投诉", "withdrew the complaint"),
        ("closed", False, "ended", "请先重开（#重开）", "cannot send a progress reply. Reopen"),
        ("not_accepted", False, "ended", "当前：不予受理", "Reopen it first (#reopen)"),
        ("review_resolved", False, "final_review", "不能发送进展答复", "final; cannot send"),
        ("closed", True, "final_review", "复查结论为最终结论", "The review result is final"),
    ],
)
def test_text_to_the_complainant_is_refused_on_a_finished_case(
    state: str, reviewed: bool, code: str, zh: str, en: str
) -> None:
    body = "#reply\n#need-info\n#extend 3 等待鉴定\n#consent\n\n" + TEXT
    found = plan(parse_command_mail(body).commands, State(state), reviewed=reviewed)
    assert [o.ok for o in found] == [False] * 4
    reply = found[0].refusal
    assert reply is not None and reply.code == code
    assert zh in reply.zh and en in reply.en
    assert {o.refusal.code for o in found if o.refusal} == {code}


def test_text_to_the_complainant_still_goes_out_while_the_case_is_open() -> None:
    for state in ("received", "accepted", "resolved", "review_requested", "under_review"):
        assert outcomes("#reply\n\n" + TEXT, state)[0][1] is True


def test_close_on_a_closed_case_is_left_to_the_call_back_check() -> None:
    # Whether a call-back is owed is on the live case: the handler records it or refuses.
    assert outcomes("#close", "closed") == [("close", True, "closed", None)]
    assert outcomes("#close", "not_accepted")[0][3] == "nothing_to_close"
