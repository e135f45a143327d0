"""The staff command language: parse the `#` lines at the top of a staff mail. Pure.

A staff member works a case by replying with command lines first (`#resolve` / `#办结`, blank
lines between them allowed), then the message text, then the quote their client adds. Arguments
are checked here, at parse time, so the confirmation mail can say exactly what was wrong; the
words that come from the policy file (category codes and their Chinese words, the severities'
Chinese words, the ids #assign accepts) arrive as a `Vocabulary`. Next: `command_plan.plan`
runs the parsed commands over the case's state.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

from config.policy import Policy
from config.policy_classify import SEVERITIES
from workers.casework.transitions import Trigger
from workers.mail.quoting import strip_quoted
from workers.mail.textnorm import to_simplified


class Arg(StrEnum):
    """What a command takes after its name."""

    NONE = "none"
    FREE = "free"  # optional free text, the rest of the line
    REASON = "reason"  # a not-accepted reason, then optional free text
    TARGET = "target"  # one group or staff id
    CATEGORY = "category"
    SEVERITY = "severity"
    EXTEND = "extend"  # working days, then the reason
    CASE = "case"  # a case number


@dataclass(frozen=True)
class CommandSpec:
    name: str
    zh: tuple[str, ...]  # Chinese spellings, the one shown in help first
    arg: Arg
    trigger: Trigger | None
    needs_text: bool  # sends text: the line argument or the mail text must not be empty
    usage: str  # English; _USAGE_ZH has the Chinese
    help_zh: str
    help_en: str


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("accept", ("受理",), Arg.NONE, Trigger.ACCEPT, False, "",
                "受理投诉，开始调查", "accept the complaint and start investigating"),
    CommandSpec("reject", ("不予受理", "不受理"), Arg.REASON, Trigger.REJECT, False, "<reason>",
                "不予受理，理由代码见下，正文发给投诉人",
                "do not accept; reason code below; the text is sent to the complainant"),
    CommandSpec("need-info", ("补充材料", "补充"), Arg.FREE, Trigger.NEED_INFO, True, "",
                "请投诉人补充材料（正文发给投诉人，期间暂停计时）",
                "ask the complainant for information (text sent; the clock waits)"),
    CommandSpec("reply", ("回复", "答复"), Arg.FREE, None, True, "",
                "向投诉人发送进展（正文发给投诉人）",
                "send the complainant a progress update (text sent)"),
    CommandSpec("note", ("备注",), Arg.FREE, None, True, "[text]",
                "内部备注，不发给投诉人", "internal note, never sent to the complainant"),
    CommandSpec("assign", ("转办", "指派"), Arg.TARGET, None, False, "<group|staff>",
                "转给小组或工作人员办理", "hand the case to a group or a staff member"),
    CommandSpec("category", ("分类",), Arg.CATEGORY, None, False, "<code>",
                "更改分类", "change the category"),
    CommandSpec("severity", ("级别", "等级"), Arg.SEVERITY, None, False,
                "{levels}", "更改级别：{levels_zh}",
                "change the severity: {levels}"),
    CommandSpec("extend", ("延期",), Arg.EXTEND, None, False, "<n> <reason>",
                "延长办理期限 n 个工作日（须说明理由）",
                "extend the deadline by n working days (a reason is required)"),
    CommandSpec("consent", ("同意延期",), Arg.FREE, None, False, "[how]",
                "投诉人已（如电话中）同意延期：期限按延期申请顺延，并书面确认给投诉人",
                "the complainant agreed to the extension (on the phone, say): the deadline "
                "moves and they get it in writing"),
    CommandSpec("resolve", ("办结",), Arg.FREE, Trigger.RESOLVE, True, "",
                "办结，正文为处理结果，发给投诉人（未受理的先受理）",
                "resolve; the text is the result sent to the complainant (accepts first)"),
    CommandSpec("review-accept", ("复查受理",), Arg.NONE, Trigger.REVIEW_ACCEPT, False, "",
                "受理复查申请", "accept the complainant's review request"),
    CommandSpec("review-result", ("复查结论",), Arg.FREE, Trigger.REVIEW_RESULT, True, "",
                "复查结论（最终结论），正文发给投诉人",
                "the review result (final); the text is sent to the complainant"),
    CommandSpec("close", ("结案",), Arg.FREE, Trigger.CLOSE, False, "",
                "结案（复查期满或回访后）；已结案的，记录回访已完成",
                "close the case (after the review window or call-back); on a closed case, record "
                "the call-back"),
    CommandSpec("reopen", ("重开", "重新打开"), Arg.FREE, Trigger.REOPEN, False, "",
                "重开已办结、已结案、不予受理或已撤回的案件（复查结论后不可）",
                "reopen a resolved, closed, not-accepted or withdrawn case (not after a review "
                "result)"),
    CommandSpec("merge", ("合并",), Arg.CASE, None, False, "<TS-2026-000123>",
                "并入另一案件", "merge this case into another case"),
    CommandSpec("malicious", ("恶意投诉", "恶意"), Arg.FREE, None, False, "",
                "标记为恶意投诉", "mark as a malicious complaint"),
    CommandSpec("status", ("状态",), Arg.NONE, None, False, "",
                "查询案件状态", "show the case status"),
    CommandSpec("help", ("帮助",), Arg.NONE, None, False, "",
                "显示本帮助", "show this help"),
)  # fmt: skip
_BY_NAME = {spec.name: spec for spec in SPECS}
_USAGE_ZH = {
    "<reason>": "<理由>", "[text]": "[内容]", "<group|staff>": "<小组|工作人员>",
    "<code>": "<分类代码>", "{levels}": "{levels_zh}",
    "<n> <reason>": "<工作日天数> <理由>", "<TS-2026-000123>": "<TS-2026-000123>",
    "[how]": "[方式]",
}  # fmt: skip

# docs/process.md#acceptance: the grounds for not accepting, with the words staff write.
REJECT_REASONS: dict[str, tuple[str, ...]] = {
    "no_facts": ("无具体事实", "没有具体事实", "无事实"),
    "in_litigation": ("已诉讼/仲裁", "已诉讼", "已仲裁", "诉讼", "仲裁", "诉讼/仲裁"),
    "other_authority": ("其他机关处理中", "其他机关", "他机关处理中"),
    "already_settled": ("已和解", "和解"),
    "unlawful": ("违法",),
    "out_of_time": ("超过时限", "超时", "逾期"),
    "out_of_scope": ("不属于受理范围", "不属于范围", "超出范围"),
}
MAX_EXTENSION_DAYS = 30  # catches a typo such as "#extend 300" before it reaches a deadline
_CASE_NUMBER = re.compile(r"^[\[【［]?([A-Za-z][A-Za-z0-9]*-\d{4}-\d+)[\]】］]?$")
_DAYS = re.compile(r"^(\d+)(个工作日|工作日|天|日|d)?$", re.IGNORECASE)
_ENGLISH_WORD = re.compile(r"[A-Za-z][A-Za-z_-]*")
_TRAILING_PUNCTUATION = "，。,.;；、!！"


@dataclass(frozen=True)
class Command:
    name: str  # canonical English name ("need-info"); the word as written when unknown
    args: tuple[str, ...]  # canonical values: reason and category codes, severities
    line: str  # as written
    error: str | None = None  # English; None when the command is valid
    error_zh: str | None = None

    def error_text(self, language: str) -> str | None:
        return self.error if language.lower().startswith("en") else self.error_zh


@dataclass(frozen=True)
class CommandMail:
    commands: list[Command]
    text: str  # the message under the commands, above the quote


@dataclass(frozen=True)
class Vocabulary:
    """The words of the policy file that commands take."""

    # Category code → its Chinese words, the one #help shows first; in the policy's order.
    categories: Mapping[str, tuple[str, ...]]
    # Severity level, lowest first → its Chinese words, the one #help shows first.
    severities: Mapping[str, tuple[str, ...]]
    # The group and staff ids #assign accepts; None accepts any id.
    assignees: Collection[str] | None = None


def vocabulary_of(policy: Policy) -> Vocabulary:
    """This installation's categories, severity words, groups and staff."""
    ids = [g.id for g in policy.groups] + [s.id for s in policy.staff]
    return Vocabulary(
        categories={c.code: tuple(c.words_zh) for c in policy.categories},
        severities={level: tuple(policy.severity.words_zh.get(level, ())) for level in SEVERITIES},
        assignees=ids or None,
    )


def parse_command_mail(body: str, vocabulary: Vocabulary) -> CommandMail:
    """The commands at the top of a staff mail and the text under them."""
    lines = strip_quoted(body).lstrip("\ufeff").split("\n")
    end = next((i for i, line in enumerate(lines) if line.strip() and not _is_hash(line)), None)
    head, tail = (lines, []) if end is None else (lines[:end], lines[end:])
    text = "\n".join(tail).strip()
    commands = [
        _check_text(parse_command_line(line, vocabulary), text) for line in head if line.strip()
    ]
    return CommandMail(commands, text)


def _is_hash(line: str) -> bool:
    return line.lstrip().startswith(("#", "＃"))


def parse_command_line(line: str, vocabulary: Vocabulary) -> Command:
    """One `#command args` line, its arguments checked."""
    written = line.strip()
    rest = written[1:].lstrip()
    spec, word_len = _match_name(rest)
    if spec is None:
        word = re.split(r"[\s:：]", rest, maxsplit=1)[0]
        return _failed(
            word.lower(),
            written,
            f"unknown command #{word}; send #help for the list",
            f"未知命令 #{word}，发送 #帮助 查看命令列表",
        )
    argument = rest[word_len:].lstrip(" \t\u3000:：").strip()
    return _parse_argument(spec, argument, written, vocabulary)


def _match_name(rest: str) -> tuple[CommandSpec | None, int]:
    """The command that `rest` starts with, and how many characters its name took."""
    english = _ENGLISH_WORD.match(rest)
    if english:
        spec = _BY_NAME.get(english.group().lower().replace("_", "-"))
        return spec, english.end()
    # Chinese names need no space after them ("#级别重大"); the longest match wins, so
    # 不予受理 is never read as 不 + 予受理. Traditional spellings count (複查, 辦結).
    candidates = [
        (spec, len(zh)) for spec in SPECS for zh in spec.zh if _simplified(rest[: len(zh)]) == zh
    ]
    return max(candidates, key=lambda c: c[1], default=(None, 0))


def spec_of(name: str) -> CommandSpec | None:
    """The command called `name` (its canonical English name)."""
    return _BY_NAME.get(name)


def _simplified(text: str) -> str:
    # 覆查 is a common variant of 复查 that t2s leaves alone (覆 is also a simplified form).
    return to_simplified(unicodedata.normalize("NFKC", text)).replace("覆", "复")


def _parse_argument(
    spec: CommandSpec,
    argument: str,
    line: str,
    vocabulary: Vocabulary,
) -> Command:
    match spec.arg:
        case Arg.NONE:
            return _no_argument(spec, argument.rstrip(_TRAILING_PUNCTUATION), line)
        case Arg.FREE:
            return Command(spec.name, (argument,) if argument else (), line)
        case Arg.REASON:
            return _reason(spec, argument, line)
        case Arg.TARGET:
            return _target(spec, argument, line, vocabulary.assignees)
        case Arg.CATEGORY:
            return _category(spec, argument, line, vocabulary.categories)
        case Arg.SEVERITY:
            return _severity(spec, argument, line, vocabulary.severities)
        case Arg.EXTEND:
            return _extension(spec, argument, line)
        case Arg.CASE:
            return _case_number(spec, argument, line)


def _failed(name: str, line: str, en: str, zh: str) -> Command:
    return Command(name, (), line, en, zh)


def _names(spec: CommandSpec) -> tuple[str, str]:
    return f"#{spec.name}", f"#{spec.zh[0]}"


def _no_argument(spec: CommandSpec, argument: str, line: str) -> Command:
    if not argument:
        return Command(spec.name, (), line)
    en, zh = _names(spec)
    return _failed(
        spec.name,
        line,
        f"{en} takes no argument (got '{argument}')",
        f"{zh} 不带参数（收到「{argument}」）",
    )


def _first_word(argument: str) -> tuple[str, str]:
    parts = argument.split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0].rstrip(_TRAILING_PUNCTUATION), parts[1].strip() if len(parts) > 1 else ""


def _reason(spec: CommandSpec, argument: str, line: str) -> Command:
    code, remainder = _reason_code(argument)
    codes = ", ".join(REJECT_REASONS)
    words = "、".join(words[0] for words in REJECT_REASONS.values())
    if not argument:
        return _failed(
            spec.name, line, f"#reject needs a reason: {codes}", f"#不予受理 需要理由：{words}"
        )
    if code is None:
        word = _first_word(argument)[0]
        return _failed(
            spec.name,
            line,
            f"unknown reason '{word}'; expected one of: {codes}",
            f"未知理由「{word}」，可用：{words}",
        )
    return Command(spec.name, (code, remainder) if remainder else (code,), line)


def _reason_code(argument: str) -> tuple[str | None, str]:
    """The reason code `argument` starts with (a code or its Chinese words), and the rest."""
    word, remainder = _first_word(argument)
    code = word.lower().replace("-", "_")
    if code in REJECT_REASONS:
        return code, remainder
    # Chinese needs no space after the reason ("无具体事实，请补充…"); the longest word wins.
    simplified = _simplified(argument)
    found = [
        (len(w), c) for c, ws in REJECT_REASONS.items() for w in ws if simplified.startswith(w)
    ]
    if not found:
        return None, ""
    length, code = max(found)
    return code, argument[length:].lstrip(_TRAILING_PUNCTUATION + " \t\u3000:：")


def _single_word(
    spec: CommandSpec, argument: str, line: str, expected: tuple[str, str]
) -> Command | str:
    """The one word `argument` must be, or the failed command saying what was expected."""
    word, remainder = _first_word(argument)
    if word and not remainder:
        return word
    en, zh = _names(spec)
    got_en = f" (got '{argument}')" if argument else ""
    got_zh = f"（收到「{argument}」）" if argument else ""
    return _failed(
        spec.name,
        line,
        f"{en} needs one {expected[0]}{got_en}",
        f"{zh} 需要一个{expected[1]}{got_zh}",
    )


def _target(
    spec: CommandSpec, argument: str, line: str, assignees: Collection[str] | None
) -> Command:
    word = _single_word(spec, argument, line, ("group or staff id", "小组或工作人员编号"))
    if isinstance(word, Command):
        return word
    target = word.lower()
    if assignees is not None and target not in {a.lower() for a in assignees}:
        known = ", ".join(sorted(assignees))
        return _failed(
            spec.name,
            line,
            f"no group or staff member '{word}'; known: {known}",
            f"没有小组或工作人员「{word}」，可用：{known}",
        )
    return Command(spec.name, (target,), line)


def _category(
    spec: CommandSpec, argument: str, line: str, categories: Mapping[str, tuple[str, ...]]
) -> Command:
    word = _single_word(spec, argument, line, ("category code", "分类代码"))
    if isinstance(word, Command):
        return word
    code = category_code(word, categories)
    if code not in categories:
        known = ", ".join(categories)
        return _failed(
            spec.name,
            line,
            f"unknown category '{word}'; expected one of: {known}",
            f"未知分类「{word}」，可用：{known}",
        )
    return Command(spec.name, (code,), line)


def category_code(word: str, categories: Mapping[str, tuple[str, ...]]) -> str:
    """The code a staff member means by `word`: the code of the category it is a Chinese word
    for (simplified or traditional), else the word itself in lower case."""
    simplified = _simplified(word)
    found = (
        code for code, words in categories.items() if simplified in {_simplified(w) for w in words}
    )
    return next(found, word.lower())


def severity_level(word: str, severities: Mapping[str, tuple[str, ...]]) -> str | None:
    """The severity `word` names, in English (any case) or in one of its Chinese words."""
    simplified = _simplified(word).lower()
    found = (
        level
        for level, words in severities.items()
        if simplified == level or simplified in {_simplified(w).lower() for w in words}
    )
    return next(found, None)


def severity_words(severities: Mapping[str, tuple[str, ...]]) -> tuple[list[str], list[str]]:
    """The levels in English and in their first Chinese words (English where none), lowest
    first, as #help and the error messages name them."""
    return list(severities), [words[0] if words else level for level, words in severities.items()]


def _severity(
    spec: CommandSpec, argument: str, line: str, severities: Mapping[str, tuple[str, ...]]
) -> Command:
    levels, levels_zh = severity_words(severities)
    word = _single_word(
        spec, argument, line, (f"severity: {'|'.join(levels)}", f"级别：{'|'.join(levels_zh)}")
    )
    if isinstance(word, Command):
        return word
    level = severity_level(word, severities)
    if level is None:
        expected = " or ".join(filter(None, (", ".join(levels[:-1]), levels[-1])))
        return _failed(
            spec.name,
            line,
            f"unknown severity '{word}'; expected {expected}",
            f"未知级别「{word}」，可用：{'、'.join(levels_zh)}",
        )
    return Command(spec.name, (level,), line)


def _extension(spec: CommandSpec, argument: str, line: str) -> Command:
    word, reason = _first_word(unicodedata.normalize("NFKC", argument))
    days = _DAYS.match(word)
    if days is None or not 1 <= int(days.group(1)) <= MAX_EXTENSION_DAYS:
        return _failed(
            spec.name,
            line,
            f"#extend needs a number of working days (1-{MAX_EXTENSION_DAYS}), then the reason",
            f"#延期 需要工作日天数（1-{MAX_EXTENSION_DAYS}）和理由",
        )
    if not reason:
        return _failed(
            spec.name,
            line,
            "#extend needs a reason: the complainant must be told why",
            "#延期 需要说明理由（须告知投诉人）",
        )
    return Command(spec.name, (days.group(1), reason), line)


def _case_number(spec: CommandSpec, argument: str, line: str) -> Command:
    word = _single_word(
        spec, argument, line, ("case number such as TS-2026-000123", "案件编号，如 TS-2026-000123")
    )
    if isinstance(word, Command):
        return word
    number = _CASE_NUMBER.match(unicodedata.normalize("NFKC", word))
    if number is None:
        return _failed(
            spec.name,
            line,
            f"'{word}' is not a case number such as TS-2026-000123",
            f"「{word}」不是案件编号，格式如 TS-2026-000123",
        )
    return Command(spec.name, (number.group(1).upper(),), line)


def _check_text(command: Command, text: str) -> Command:
    """Commands that send text need some: on their line or under the commands."""
    spec = _BY_NAME.get(command.name)
    if command.error or spec is None or not spec.needs_text or command.args or text:
        return command
    en, zh = _names(spec)
    return _failed(
        command.name,
        command.line,
        f"{en} needs a message: write it under the commands",
        f"{zh} 需要正文：请写在命令下方",
    )


def message_for(command: Command, text: str) -> str:
    """The text a command sends or records: its line argument, then the mail text.

    A `#note` with an argument records only that, so a note and a reply can share one mail.
    """
    free = command.args[-1] if command.args and _is_free(command) else ""
    if command.name == "note" and free:
        return free
    return "\n\n".join(part for part in (free, text) if part)


def _is_free(command: Command) -> bool:
    spec = _BY_NAME[command.name]
    return spec.arg == Arg.FREE or (spec.arg == Arg.REASON and len(command.args) == 2)


def help_text(language: str, vocabulary: Vocabulary) -> str:
    """The #help answer: every command in both spellings, the reasons, the categories."""
    english = language == "en"
    levels, levels_zh = severity_words(vocabulary.severities)
    words = {"levels": "|".join(levels), "levels_zh": "|".join(levels_zh)}
    lines = [
        "Commands, one per line at the top of your reply; the text under them (above the quote)"
        " is what #reject, #need-info, #reply, #resolve and #review-result send, and what #note"
        " keeps internal:"
        if english
        else "命令写在回复最上方，每行一个；命令下方、引用上方的正文即 #不予受理、#补充材料、"
        "#回复、#办结、#复查结论 发给投诉人的内容，#备注 则只在内部记录："
    ]
    for spec in SPECS:
        en, zh = _names(spec)
        if english:
            usage = f" {spec.usage}" if spec.usage else ""
            lines.append(f"{en}{usage} ({zh}) - {spec.help_en}".format(**words))
        else:
            usage = f" {_USAGE_ZH[spec.usage]}" if spec.usage else ""
            lines.append(f"{zh}{usage} ({en}) - {spec.help_zh}".format(**words))
    reasons = ", ".join(f"{code} ({words[0]})" for code, words in REJECT_REASONS.items())
    categories = ", ".join(
        f"{code} ({words[0]})" if words else code for code, words in vocabulary.categories.items()
    )
    lines.append(f"Reasons: {reasons}" if english else f"理由：{reasons}")
    lines.append(f"Categories: {categories}" if english else f"分类：{categories}")
    return "\n".join(lines)
