"""The staff command language: spellings, arguments, errors, and the help text."""

from __future__ import annotations

import pytest

from tests.unit.staffcommands import HELP_TEXT, parse_command_line, parse_command_mail
from workers.casework.command_parse import (
    SPECS,
    Command,
    category_code,
    message_for,
    severity_level,
    severity_words,
    spec_of,
)

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


def test_help_lists_every_command_in_both_spellings() -> None:
    for spec in SPECS:
        for text in HELP_TEXT.values():
            assert f"#{spec.name}" in text
            assert f"#{spec.zh[0]}" in text
    assert "#办结 (#resolve) - 办结" in HELP_TEXT["zh-CN"]
    assert "#resolve (#办结) - resolve" in HELP_TEXT["en"]
    assert "no_facts (无具体事实)" in HELP_TEXT["en"]


CATEGORY_WORDS = {"privacy": ("用户信息泄露", "隐私"), "other": ("其他",)}
SEVERITY_WORDS = {"general": ("一般",), "important": (), "major": ("重大", "特大")}


@pytest.mark.parametrize(
    ("word", "code"),
    [("隐私", "privacy"), ("隱私", "privacy"), ("用户信息泄露", "privacy"), ("Privacy", "privacy"),
     ("其他", "other"), ("food", "food"), ("食品", "食品")],
)  # fmt: skip
def test_category_code(word: str, code: str) -> None:
    assert category_code(word, CATEGORY_WORDS) == code


@pytest.mark.parametrize(
    ("word", "level"),
    [("一般", "general"), ("GENERAL", "general"), ("important", "important"), ("重要", None),
     ("特大", "major"), ("重大", "major"), ("urgent", None)],
)  # fmt: skip
def test_severity_level(word: str, level: str | None) -> None:
    assert severity_level(word, SEVERITY_WORDS) == level


def test_severity_words_name_a_level_in_english_where_it_has_no_chinese_word() -> None:
    assert severity_words(SEVERITY_WORDS) == (
        ["general", "important", "major"],
        ["一般", "important", "重大"],
    )


def test_spec_of() -> None:
    spec = spec_of("need-info")
    assert spec is not None and spec.zh[0] == "补充材料"
    assert spec_of("补充材料") is None
