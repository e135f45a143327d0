"""The words commands take come from the policy file: an operator's new category or severity
word works in #help and #category / #severity without a code change."""

from __future__ import annotations

from pathlib import Path

from config.policy import load_policy
from config.policy_classify import Category
from config.settings import PROJECT_ROOT
from workers.casework.command_parse import (
    help_text,
    parse_command_line,
    parse_command_mail,
    vocabulary_of,
)

SHIPPED = PROJECT_ROOT / "config" / "policy.toml"
PETS = """
[[categories]]
code = "pets"
name_zh = "宠物服务（寄养、美容）"
name_en = "Pet services"
aliases_zh = ["宠物服务", "宠物"]
keywords = ["宠物", "pet*"]
group = "handling"
"""


def policy_file(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(SHIPPED.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return path


def test_a_category_added_to_the_policy_file_is_in_help_and_accepted(tmp_path: Path) -> None:
    vocabulary = vocabulary_of(load_policy(policy_file(tmp_path, PETS)))
    assert "pets (宠物服务)" in help_text("en", vocabulary)
    assert "pets (宠物服务)" in help_text("zh-CN", vocabulary)
    for line in ("#category pets", "#分类 宠物服务", "#分类 宠物", "#分類 寵物", "#category PETS"):
        command = parse_command_line(line, vocabulary)
        assert (command.args, command.error) == (("pets",), None), line
    assert parse_command_line("#category privacy", vocabulary).args == ("privacy",)


def test_without_the_category_in_the_policy_file_it_is_refused() -> None:
    vocabulary = vocabulary_of(load_policy(SHIPPED))
    assert "pets" not in help_text("en", vocabulary)
    command = parse_command_line("#category pets", vocabulary)
    assert command.error is not None and "unknown category 'pets'" in command.error


def test_severity_words_come_from_the_policy_file(tmp_path: Path) -> None:
    words = '\n[severity.words_zh]\ngeneral = ["一般"]\nimportant = ["重要"]\nmajor = ["重大", "特大"]\n'
    shipped = SHIPPED.read_text(encoding="utf-8").replace(
        'words_zh = { general = ["一般"], important = ["重要"], major = ["重大"] }\n', ""
    )
    path = tmp_path / "policy.toml"
    path.write_text(
        shipped.replace("\n[classifier]\n", words + "\n[classifier]\n"), encoding="utf-8"
    )
    vocabulary = vocabulary_of(load_policy(path))
    assert parse_command_line("#级别 特大", vocabulary).args == ("major",)
    assert parse_command_line("#級別 重大", vocabulary).args == ("major",)
    assert "#级别 一般|重要|重大 (#severity) - 更改级别：一般|重要|重大" in help_text(
        "zh-CN", vocabulary
    )


def test_a_policy_file_without_the_new_keys_keeps_todays_words(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        '[[categories]]\ncode = "misconduct"\nname_zh = "不当行为（骚扰、欺诈）"\n'
        'name_en = "Misconduct"\n',
        encoding="utf-8",
    )
    policy = load_policy(path)
    assert policy.limits.max_attachments == 500
    vocabulary = vocabulary_of(policy)
    assert vocabulary.categories == {"misconduct": ("不当行为",)}
    assert vocabulary.severities == {
        "general": ("一般",),
        "important": ("重要",),
        "major": ("重大",),
    }
    assert vocabulary.assignees is None
    mail = parse_command_mail("#分类 不当行为\n#级别 重要", vocabulary)
    assert [c.args for c in mail.commands] == [("misconduct",), ("important",)]


def test_category_words_default_to_the_name_before_its_bracket() -> None:
    def category(**values: object) -> Category:
        return Category.model_validate({"code": "x", "name_en": "X", **values})

    assert category(name_zh="交易纠纷（支付、账单、物流）").words_zh == ["交易纠纷"]
    assert category(name_zh="Misc (other)").words_zh == ["Misc"]
    assert category(name_zh="其他").words_zh == ["其他"]
    assert category(name_zh="其他", aliases_zh=["杂项", "其他"]).words_zh == ["杂项", "其他"]


def test_vocabulary_of_the_shipped_policy() -> None:
    vocabulary = vocabulary_of(load_policy(SHIPPED))
    assert list(vocabulary.categories)[:2] == ["privacy", "false_advertising"]
    assert vocabulary.categories["privacy"] == ("用户信息泄露", "隐私")
    assert vocabulary.assignees is not None
    assert {"intake", "leadership", "zhao", "qian"} <= set(vocabulary.assignees)
