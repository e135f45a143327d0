"""The staff command language: spellings, arguments, errors, and the plan of a whole mail."""

from __future__ import annotations

import pytest

from workers.casework.commands import (
    HELP_TEXT,
    SPECS,
    Command,
    command_trigger,
    message_for,
    parse_command_line,
    parse_command_mail,
    plan,
)
from workers.casework.transitions import State

TEXT = "已与商家核实，商家同意全额退款。"

# (English line, Chinese line, canonical name, canonical args)
SPELLINGS = [
    ("#accept", "#受理", "accept", ()),
    ("#reject no_facts", "#不予受理 无具体事实", "reject", ("no_facts",)),
    ("#need-info", "#补充材料", "need-info", ()),
    ("#reply", "#回复", "reply", ()),
    ("#note called the shop", "#备注 已电话联系商家", "note", None),
    ("#assign legal", "#转办 legal", "assign", ("legal",)),
    ("#category privacy", "#分类 privacy", "category", ("privacy",)),
    ("#severity major", "#级别 重大", "severity", ("major",)),
    ("#extend 5 waiting for the courier", "#延期 5 等待物流公司回函", "extend", None),
    ("#consent", "#同意延期", "consent", ()),
    ("#resolve", "#办结", "resolve", ()),
    ("#review-accept", "#复查受理", "review-accept", ()),
    ("#review-result", "#复查结论", "review-result", ()),
    ("#close", "#结案", "close", ()),
    ("#reopen", "#重开", "reopen", ()),
    ("#merge TS-2026-000123", "#合并 TS-2026-000123", "merge", ("TS-2026-000123",)),
    ("#malicious", "#恶意投诉", "malicious", ()),
    ("#status", "#状态", "status", ()),
    ("#help", "#帮助", "help", ()),
]


def only_command(body: str) -> Command:
    mail = parse_command_mail(body)
    assert len(mail.commands) == 1
    return mail.commands[0]


@pytest.mark.parametrize(("english", "chinese", "name", "args"), SPELLINGS)
def test_both_spellings(english: str, chinese: str, name: str, args: tuple | None) -> None:
    for line in (english, chinese, "＃" + chinese[1:], english.upper().replace("TS-", "ts-")):
        command = only_command(f"{line}\n\n{TEXT}")
        assert command.error is None, (line, command.error)
        assert command.name == name
        assert command.line == line
        if args is not None:
            assert command.args == args


def test_every_command_has_a_spelling_test() -> None:
    assert {spec.name for spec in SPECS} == {name for _, _, name, _ in SPELLINGS}


@pytest.mark.parametrize(
    ("line", "name", "args"),
    [
        ("＃级别：重大", "severity", ("major",)),
        ("#级别:一般", "severity", ("general",)),
        ("#级别重要", "severity", ("important",)),
        ("#Need_Info", "need-info", ()),
        ("#RESOLVE", "resolve", ()),
        ("# 受理", "accept", ()),
        ("  #受理。", "accept", ()),
        ("#辦結", "resolve", ()),
        ("#複查結論", "review-result", ()),
        ("#覆查受理", "review-accept", ()),
        ("#補充材料", "need-info", ()),
        ("#分类 隐私", "category", ("privacy",)),
        ("#分類 售後服務", "category", ("after_sales",)),
        ("#category Product_Quality", "category", ("product_quality",)),
        ("#合并 [ts-2026-000123]", "merge", ("TS-2026-000123",)),
        ("#延期 3个工作日 需要调取物流记录", "extend", ("3", "需要调取物流记录")),
        ("#extend ３ waiting", "extend", ("3", "waiting")),
        ("#转办 Legal", "assign", ("legal",)),
    ],
)
def test_variants(line: str, name: str, args: tuple) -> None:
    command = parse_command_line(line)
    assert (command.name, command.args, command.error) == (name, args, None)


@pytest.mark.parametrize(
    ("argument", "code"),
    [
        ("no_facts", "no_facts"),
        ("no-facts", "no_facts"),
        ("无具体事实", "no_facts"),
        ("in_litigation", "in_litigation"),
        ("已诉讼/仲裁", "in_litigation"),
        ("已仲裁", "in_litigation"),
        ("other_authority", "other_authority"),
        ("其他机关处理中", "other_authority"),
        ("already_settled", "already_settled"),
        ("已和解", "already_settled"),
        ("unlawful", "unlawful"),
        ("违法", "unlawful"),
        ("out_of_time", "out_of_time"),
        ("超过时限", "out_of_time"),
        ("out_of_scope", "out_of_scope"),
        ("不属于受理范围", "out_of_scope"),
        ("不屬於受理範圍", "out_of_scope"),
    ],
)
def test_reject_reasons(argument: str, code: str) -> None:
    assert parse_command_line(f"#不予受理 {argument}").args == (code,)
    assert parse_command_line(f"#reject {argument}").args == (code,)


def test_reject_reason_followed_by_words_without_a_space() -> None:
    command = parse_command_line("#不予受理：无具体事实，请说明购买时间和商品")
    assert command.args == ("no_facts", "请说明购买时间和商品")


@pytest.mark.parametrize(
    ("line", "en", "zh"),
    [
        ("#foo", "unknown command #foo", "未知命令 #foo"),
        ("#受理人 张三", "#accept takes no argument", "#受理 不带参数"),
        ("#reject", "#reject needs a reason: no_facts, in_litigation", "无具体事实"),
        ("#reject because", "unknown reason 'because'", "未知理由「because」"),
        ("#assign", "#assign needs one group or staff id", "小组或工作人员"),
        ("#assign legal please", "#assign needs one group or staff id", "小组或工作人员"),
        ("#category food", "unknown category 'food'; expected one of: privacy", "未知分类"),
        ("#severity urgent", "unknown severity 'urgent'", "一般、重要、重大"),
        ("#级别", "#severity needs one severity", "#级别 需要一个级别"),
        ("#extend", "#extend needs a number of working days (1-30)", "#延期 需要工作日天数"),
        ("#extend five days", "#extend needs a number of working days", "#延期"),
        ("#extend 300 busy", "#extend needs a number of working days (1-30)", "#延期"),
        ("#延期 5", "#extend needs a reason", "#延期 需要说明理由"),
        ("#merge 123", "'123' is not a case number", "不是案件编号"),
        ("#status now", "#status takes no argument", "#状态 不带参数"),
    ],
)
def test_argument_errors_say_what_is_expected(line: str, en: str, zh: str) -> None:
    command = parse_command_line(line)
    assert command.error is not None and en in command.error
    assert command.error_zh is not None and zh in command.error_zh
    assert command.error_text("zh-CN") == command.error_zh


def test_assign_checks_known_ids_when_given() -> None:
    mail = parse_command_mail("#assign legal\n#转办 wang", assignees={"intake", "legal", "li"})
    assert mail.commands[0].args == ("legal",) and mail.commands[0].error is None
    assert mail.commands[1].error == "no group or staff member 'wang'; known: intake, legal, li"


def test_category_checks_the_policy_codes_when_given() -> None:
    mail = parse_command_mail("#category privacy", categories={"billing", "other"})
    assert "unknown category 'privacy'; expected one of" in (mail.commands[0].error or "")


@pytest.mark.parametrize(
    "line", ["#reply", "#回复", "#need-info", "#resolve", "#复查结论", "#备注"]
)
def test_text_sending_commands_need_text(line: str) -> None:
    command = only_command(line + "\n")
    assert command.error is not None and "needs a message" in command.error
    assert "需要正文" in (command.error_zh or "")


def test_text_on_the_command_line_is_enough() -> None:
    assert only_command("#回复 已联系商家，预计周五答复。").error is None


OUTLOOK_STAFF_REPLY = """\
#受理

#级别 重要
#assign legal
已与商家电话沟通，商家承认发货错误。

#note this line is message text, not a command

-----Original Message-----
From: Customer Service <complaints@example.org>
Sent: Wednesday, September 30, 2026 10:00 AM
To: Zhao <zhao@example.org>
Subject: [TS-2026-000123] New complaint

#resolve
"""


def test_commands_stop_at_the_first_text_line_and_the_quote_is_cut() -> None:
    mail = parse_command_mail(OUTLOOK_STAFF_REPLY)
    assert [(c.name, c.args) for c in mail.commands] == [
        ("accept", ()),
        ("severity", ("important",)),
        ("assign", ("legal",)),
    ]
    assert mail.text == (
        "已与商家电话沟通，商家承认发货错误。\n\n#note this line is message text, not a command"
    )


def test_mail_without_commands_is_all_text() -> None:
    mail = parse_command_mail("Thanks, I will look at it tomorrow.\n#resolve\n")
    assert mail.commands == []
    assert mail.text == "Thanks, I will look at it tomorrow.\n#resolve"


def test_message_for() -> None:
    mail = parse_command_mail("#备注 投诉人情绪激动\n#reply\n#办结 退款299元\n\n" + TEXT)
    note, reply, resolve = mail.commands
    assert message_for(note, mail.text) == "投诉人情绪激动"
    assert message_for(reply, mail.text) == TEXT
    assert message_for(resolve, mail.text) == "退款299元\n\n" + TEXT
    reject = parse_command_line("#不予受理 已和解 双方已于9月签署和解协议")
    assert message_for(reject, "") == "双方已于9月签署和解协议"


def test_note_without_argument_records_the_text() -> None:
    mail = parse_command_mail("#note\nCalled the shop, no answer.")
    assert message_for(mail.commands[0], mail.text) == "Called the shop, no answer."


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


def test_help_lists_every_command_in_both_spellings() -> None:
    for spec in SPECS:
        for text in HELP_TEXT.values():
            assert f"#{spec.name}" in text
            assert f"#{spec.zh[0]}" in text
    assert "#办结 (#resolve) - 办结" in HELP_TEXT["zh-CN"]
    assert "#resolve (#办结) - resolve" in HELP_TEXT["en"]
    assert "no_facts (无具体事实)" in HELP_TEXT["en"]


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
