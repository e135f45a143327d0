"""What a complainant's reply asks for: a review, a withdrawal, a satisfaction score, or neither.

Only the new text counts (quotes are cut first), so our own words quoted back ("you may ask for a
review") never decide anything. The subject counts only when it is the complainant's own, not
our subject behind "Re:". Traditional Chinese is read through OpenCC t2s. Explicit asks win
over a rating: 不满意 with 复查 is a review request, 不满意 alone is a score of 2. Anything
unclear is `info`, which staff read; the intent only chooses the automatic reaction.

While the complainant may still ask for a review (`answering_result`), a reply that gives
reasons is a review request even without the word: docs/process.md#review asks for a request "giving
reasons", and people answer a result they dispute with the dispute, not with the legal term.
Reasons are words of disagreement (不满意, 不认可, disagree, wrong) or a substantive statement;
a thank-you, an acknowledgement ("收到"), a rating or a plain question stays what it was.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from enum import StrEnum

from config.policy import TEXT_READ_CHARS
from workers.mail.quoting import strip_quoted
from workers.mail.textnorm import to_simplified


class IntentKind(StrEnum):
    REVIEW_REQUEST = "review_request"
    WITHDRAWAL = "withdrawal"
    SATISFACTION = "satisfaction"
    INFO = "info"


@dataclass(frozen=True)
class Intent:
    kind: IntentKind
    score: int | None = None  # 1 (very dissatisfied) to 5 (very satisfied), satisfaction only
    evidence: str = ""  # the words that decided it, shown to staff


@dataclass(frozen=True)
class _Cue:
    pattern: re.Pattern[str]
    negatable: bool = True


def _cues(*patterns: str, negatable: bool = True) -> tuple[_Cue, ...]:
    return tuple(_Cue(re.compile(p, re.IGNORECASE | re.MULTILINE), negatable) for p in patterns)


WITHDRAWAL_CUES = _cues(
    r"(撤回|撤销|撤消|取消)(我的|本次|这次|这个|该|此)?(投诉|举报)",
    r"(我|本人)(要|想|申请|决定)撤回(?![复覆]查)",
    r"^\s*撤回\s*$",
    r"\bwithdraw(ing)?\b(\s+\w+){0,3}\s+(complaint|case|report)\b",
    r"\b(cancel|drop)(ling)?\b(\s+\w+){0,3}\s+(complaint|case|report)\b",
    r"\b(want|like|wish|decided?) to withdraw\b",
    r"^\s*withdraw\s*$",
) + _cues(r"不(再)?(投诉|举报)了", r"\bno longer (want|wish) to (complain|pursue)", negatable=False)

REVIEW_CUES = _cues(
    r"[复覆]查(?!结论|结果|受理|通知|决定|意见)",
    r"不服",
    r"申诉",
    r"重新(处理|调查|核查|核实|审查|审核|评估)",
    r"\bappeal(ing)?\b",
    r"\breconsider",
    r"\bdisagree with\b",
    r"\b(request|ask for|apply for|want|like|need|demand)\w*\b"
    r"(\s+(?!cancel|withdraw|drop)\w+){0,3}\s+review\b",
    r"\breview (my|the|this|your) (case|complaint|decision|result|outcome)\b",
    r"^\s*review\s*$",
)

# The Chinese or English words directly before a cue that turn it around.
_NEGATION_ZH = re.compile(
    r"(不|没有?|无需|无须|不用|不必|别)再?(要|想|会|用|必|需要)?(申请|要求|提出|进行)?$"
)
_NEGATION_EN = re.compile(
    r"\b(not|never|no need to|don't|won't|doesn't|didn't|can't|cannot)(\s+\w+){0,3}\s*$"
)
_THANKS_BEFORE = re.compile(r"(感谢|谢谢|多谢)(你们|您)?的?$|\bthanks? (you )?for (the|your)\s*$")
# "撤回复查申请" takes a review request back: neither a review request nor a withdrawal.
_CANCELLED_BEFORE = re.compile(
    r"(撤回|撤销|撤消|取消)(我的|本次|这次|该|此)?$|\bcancel\w* (my|the)\s*$"
)
_CLAUSE_END = re.compile(r"[。！？!?；;，,.\n]")
# Characters before a cue that its negation is looked for in: the longest negation above ("no
# need to" and three words, "thank you for your") is well under this. A fixed window keeps
# every cue's check constant, however long the clause it stands in.
_NEGATION_WINDOW = 80
_WORD_PART = re.compile(r"^[a-z0-9']+")

# Ratings, most specific first. The first line after any greeting must be the rating and at
# most a few other characters once the polite fillers below are gone.
RATINGS: tuple[tuple[str, int], ...] = (
    ("非常不满意", 1), ("很不满意", 1), ("极不满意", 1), ("十分不满意", 1),
    ("不是很满意", 2), ("不太满意", 2), ("不大满意", 2), ("不满意", 2),
    ("非常满意", 5), ("很满意", 5), ("十分满意", 5), ("特别满意", 5),
    ("基本满意", 3), ("还算满意", 3), ("一般", 3), ("还行", 3), ("还可以", 3),
    ("比较满意", 4), ("满意", 4),
    ("very dissatisfied", 1), ("very unsatisfied", 1), ("very unhappy", 1),
    ("not satisfied", 2), ("dissatisfied", 2), ("unsatisfied", 2), ("unhappy", 2),
    ("very satisfied", 5), ("extremely satisfied", 5), ("highly satisfied", 5),
    ("neutral", 3), ("satisfied", 4),
)  # fmt: skip
_DIGIT_RATING = re.compile(r"^([1-5])\s*(分|星|颗星|stars?|points?|/\s*5)?$", re.IGNORECASE)
_STARS = re.compile(r"^[★⭐]{1,5}$")
_GREETING = re.compile(r"^(您好|你好|hi|hello|dear\b.*|尊敬的.*)[\s,，!！:：。.]*$", re.IGNORECASE)
# Polite words around a rating that do not change it.
_FILLER = re.compile(
    r"谢谢|感谢|多谢|thank you|thanks|我|对|处理结果|处理|结果|本次|这次|服务|感到|"
    r"\bi am\b|\bi'm\b|\bwith\b|\bthe\b|\bresult\b|\bhandling\b|\bvery much\b|[\s,，.。!！~～:：]"
)
_ASKS = ((IntentKind.WITHDRAWAL, WITHDRAWAL_CUES), (IntentKind.REVIEW_REQUEST, REVIEW_CUES))
_MAX_RATING_REST = 8  # characters besides the rating and fillers: more is a story, not a score
_REPLY_PREFIX = re.compile(r"^\s*(re|fw|fwd|aw|sv|回复|回覆|答复|转发)\s*[:：]", re.IGNORECASE)
_CASE_TAG = re.compile(r"[\[【［][^\]】］]*[\]】］]")


def complainant_intent(text: str, subject: str, *, answering_result: bool = False) -> Intent:
    """What the complainant's reply `text` (quote included, it is cut here) asks for.

    `answering_result`: the case's result was sent and the review window is open, so reasons
    against it ask for a review (see the module docstring).

    Reads the first TEXT_READ_CHARS characters of the text and of the subject.
    """
    new = _normalise(strip_quoted(text[:TEXT_READ_CHARS]))
    asked = "\n".join(part for part in (_own_subject(subject[:TEXT_READ_CHARS]), new) if part)
    # A withdrawal outranks a review request, which outranks a rating.
    for kind, cues in _ASKS:
        evidence = _find_cue(asked, cues)
        if evidence is not None:
            return Intent(kind, evidence=evidence)
    rating = _rating(new)
    if rating is not None:
        # "不太满意，商家态度很差": a low score with reasons is a dispute of the result.
        low = (rating.score or 5) <= 2
        reasons = _reasons(_after_rating(new, rating)) if answering_result and low else None
        if reasons is not None:
            evidence = rating.evidence
            if reasons not in evidence:  # the reasons are on the lines under the score
                evidence = f"{evidence} {reasons}"[:_MAX_EVIDENCE]
            return Intent(IntentKind.REVIEW_REQUEST, evidence=evidence)
        return rating
    reasons = _reasons(new) if answering_result else None
    if reasons is not None:
        return Intent(IntentKind.REVIEW_REQUEST, evidence=reasons)
    return Intent(IntentKind.INFO)


def _normalise(text: str) -> str:
    # NFKC folds full-width digits and punctuation; t2s makes 複查/撤銷/滿意 simplified.
    return to_simplified(unicodedata.normalize("NFKC", text)).lower()


def _own_subject(subject: str) -> str:
    """The subject when the complainant wrote it; our subject behind "Re:" says nothing."""
    if _REPLY_PREFIX.match(subject):
        return ""
    return _normalise(_CASE_TAG.sub(" ", subject)).strip()


def _find_cue(text: str, cues: tuple[_Cue, ...]) -> str | None:
    """The first words in `text` that one of `cues` matches, unless negated."""
    clause_ends = [m.end() for m in _CLAUSE_END.finditer(text)]  # once per text, not per cue
    found = [
        (match.start(), match.group())
        for cue in cues
        for match in cue.pattern.finditer(text)
        if not (cue.negatable and _negated(text, match.start(), clause_ends))
    ]
    return min(found)[1] if found else None


def _negated(text: str, start: int, clause_ends: list[int]) -> bool:
    i = bisect_right(clause_ends, start) - 1
    before = _tail(text, clause_ends[i] if i >= 0 else 0, start).rstrip()
    return bool(
        _NEGATION_ZH.search(before)
        or _NEGATION_EN.search(before)
        or _THANKS_BEFORE.search(before)
        or _CANCELLED_BEFORE.search(before)
    )


def _tail(text: str, since: int, start: int) -> str:
    """text[since:start], at most its last _NEGATION_WINDOW characters, never starting inside
    a Latin word (the rest of "cannot" is not "not")."""
    low = max(since, start - _NEGATION_WINDOW)
    tail = text[low:start]
    if low > since and _WORD_PART.match(text[low - 1]):
        tail = _WORD_PART.sub("", tail)
    return tail


def _rating(text: str) -> Intent | None:
    """A score when the first line after any greeting is a rating and little else."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    first = next((line for line in lines if not _GREETING.match(line)), None)
    if first is None:
        return None
    bare = first.strip(" .。!！~～")
    if (digit := _DIGIT_RATING.match(bare)) is not None:
        return Intent(IntentKind.SATISFACTION, int(digit.group(1)), first)
    if _STARS.match(bare):
        return Intent(IntentKind.SATISFACTION, len(bare), first)
    for words, score in RATINGS:
        if words in first:
            rest = _FILLER.sub("", first.replace(words, " ", 1))
            # The most specific rating decides; inside a longer story it is not a rating.
            return (
                Intent(IntentKind.SATISFACTION, score, first)
                if len(rest) <= _MAX_RATING_REST
                else None
            )
    return None


# -- reasons against a result ------------------------------------------------------------------

DISAGREEMENT_CUES = _cues(
    r"不(太|大|是很|怎么|够)?满意?",
    r"不同意",
    r"不认可",
    r"不接受",
    r"不能接受",
    r"无法接受",
    r"不合理",
    r"不公平",
    r"不公正",
    r"不属实",
    r"不符合?事实",
    r"不对",
    r"(有|是)?错(的|误)",
    r"(没有?|未|并未|尚未|还没有?)(解决|收到|到账|退款|退货|处理|修好|联系)",
    r"\bnot (\w+ ){0,2}(satisfied|happy|acceptable|resolved|fair|true|correct|right)\b",
    r"\b(dis|un)satisfied\b",
    r"\bdisagree",
    r"(?<!nothing )\bwrong\b",
    r"\bunfair\b",
    r"\bunacceptable\b",
    r"\bincorrect\b",
    r"\buntrue\b",
    r"\bmistaken?\b",
    r"\b(never|not|hasn't|haven't|didn't|wasn't)\b(\s+\w+)?\s+"
    r"(refunded|received|arrived|paid|fixed|repaired|replaced|contacted|resolved)\b",
)
# Thanks or contentment anywhere (unless negated), or an acknowledgement first: no dispute.
_CONTENT = re.compile(
    r"谢谢|感谢|多谢|辛苦|满意|已经?解决|解决了|已经?收到|收到了|已经?到账|到账了|已经?退款|退款了|"
    r"\bthanks?\b|\bthank you\b|\bappreciate|\bgrateful\b|\bresolved\b|\bgreat\b|"
    r"\bperfect\b|\brefund (has )?(arrived|come|been (paid|received))|"
    r"\b(received|got) (the|my) (refund|money)\b"
)
_ACKNOWLEDGED = re.compile(
    r"^(收到了?|已收到|知道了|明白了?|了解|好的|ok|okay|noted|got it|understood|received)"
    r"(?=[\s,，.。!！]|$)"
)
# A short last line under the text is a signature ("王先生"), not part of the statement.
_NAME_LINE = re.compile(r"^[^\s,，.。!！?？:：;；]{1,4}$|^[a-z]+( [a-z]+)?$")
_NEGATED_BEFORE = re.compile(
    r"(没有?|未|不|并未|尚未|还没有?)$|"
    r"\b(not|never|no|haven't|hasn't|didn't|don't|wasn't)\s+(\w+\s+)?$"
)
# "谢谢，但是…": what follows the last "but" is the point.
_CONTRAST = re.compile(r"但是|但|可是|不过|然而|\bbut\b|\bhowever\b")
# A question asks for information, unless it says something was not done ("为什么还没退款？").
_QUESTION = re.compile(r"[?？]|吗\s*$|请问|\b(may i ask|could you tell)\b")
_NOT_DONE = re.compile(r"没|未|不|\b(not|never|no)\b|n't\b")
_SIGN_OFF = re.compile(
    r"^\s*(--\s*$|best( regards)?\b|regards\b|kind regards\b|sincerely\b|cheers\b|"
    r"此致|敬礼|祝好|顺祝)"
)
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_MIN_CJK, _MIN_WORDS = 6, 4  # less is an acknowledgement or a name, not a statement
_MAX_EVIDENCE = 60


def _reasons(text: str) -> str | None:
    """The words that dispute the result, or None when the reply gives no reasons."""
    body = _body(text)
    disagreement = _find_cue(body, DISAGREEMENT_CUES)
    if disagreement is not None:
        return disagreement
    point = _CONTRAST.split(body)[-1].strip(" ，,。.!！;；:：\n")
    if not _substantive(body) or _content(point) or _ACKNOWLEDGED.match(point):
        return None
    if _QUESTION.search(point) and not _NOT_DONE.search(point):
        return None
    return next(line for line in body.split("\n") if line)[:_MAX_EVIDENCE]


def _body(text: str) -> str:
    """The new text without greeting lines, and without the sign-off and what follows it."""
    lines: list[str] = []
    for line in (raw.strip() for raw in text.split("\n")):
        if _SIGN_OFF.match(line):
            break
        if line and not _GREETING.match(line):
            lines.append(line)
    if len(lines) > 1 and _NAME_LINE.match(lines[-1]):
        lines.pop()
    return "\n".join(lines)


def _after_rating(text: str, rating: Intent) -> str:
    """The reply without its rating words: what else it says."""
    line = rating.evidence
    for words, _ in RATINGS:
        if words in line:
            return text.replace(line, line.replace(words, " ", 1), 1)
    return text.replace(line, " ", 1)  # a digit or stars: that line is only the rating


def _content(text: str) -> bool:
    return any(
        not _NEGATED_BEFORE.search(_tail(text, 0, m.start())) for m in _CONTENT.finditer(text)
    )


def _substantive(text: str) -> bool:
    return (
        len(_CJK.findall(text)) >= _MIN_CJK
        or len(_LATIN_WORD.findall(_CJK.sub(" ", text))) >= _MIN_WORDS
    )
