"""Keep the complainant's identity out of what staff outside intake read (docs/process.md,
confidentiality; issue 6 item 4).

`redact` is pure: text in, the same text with the complainant's name and mail address replaced
by their per-case pseudonym and any other contact data (mail addresses, phone numbers of the
mainland, Taiwan and Hong Kong (workers.mail.phones), identity card numbers of the three, QQ
and WeChat ids) by a "withheld" mark. Their name is the From display name, the names they
sign or introduce themselves with (workers.mail.signatures: "此致 王建国", "Regards, Wang
Jianguo") and a pinyin name in their login ("wangjianguo1990" as "Wang Jianguo"). The complaint's subject
and the complainant's later mails are their own words and carry exactly these: "张三
13812345678 宽带断网", a signature. `staff_view` decides, from the routing policy, whether a
staff member sees the complainant (intake, or the policy allows it) or the redacted text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from workers.mail.phones import phone_spans
from workers.mail.signatures import names_in
from workers.mail.textnorm import opencc_converter, to_simplified
from workers.triage.route import pseudonymise

if TYPE_CHECKING:
    from config.policy_staff import StaffMember
    from models import Case
    from workers.app import App

# Full-width forms (ＡＢＣ１２３＠) one for one to ASCII, so that one pattern matches both; one
# for one keeps every match's position valid in the original text.
_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}

# Another mail address (ASCII: \w would run on into the Chinese text around it), also written
# "name (at) host (dot) com" or "name at host dot com" to slip past filters. Linear: a local
# part starts where its run of address characters starts and is taken whole (possessive, as no
# address character can be what follows it), and every space run is taken whole; tried from
# every position of "aaaa…" the old pattern cost the square of the run's length.
_LOCAL, _HOST = r"(?<![a-z0-9._%+-])[a-z0-9._%+-]++", r"[a-z0-9-]++"
_EMAIL = (
    rf"{_LOCAL}\s?@\s?{_HOST}(?:\.{_HOST})*\.[a-z]{{2,24}}(?![a-z0-9-])"
    rf"|{_LOCAL}\s*+[(\[]\s*+at\s*+[)\]]\s*+{_HOST}"
    rf"(?:\s*+(?:\.|[(\[]\s*+dot\s*+[)\]])\s*+{_HOST})+"
    rf"|{_LOCAL}\s++at\s++{_HOST}(?:\s++dot\s++{_HOST})+"
)
# Resident identity card (GB 11643): region, birth date, sequence, check digit, written whole,
# in 6-8-4 or 6-4-4-4 groups with spaces or hyphens; and the 15-digit form (before 1999:
# two-digit year, no check digit). Every separator is one optional character: linear.
_SEP = r"[\s-]?"
_ID_CARD = (
    rf"(?<![0-9])[1-9][0-9]{{5}}{_SEP}(?:19|20)[0-9]{{2}}{_SEP}(?:0[1-9]|1[0-2])"
    rf"(?:0[1-9]|[12][0-9]|3[01]){_SEP}[0-9]{{3}}[0-9x](?![0-9a-z])"
    r"|(?<![0-9])[1-9][0-9]{5}[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}"
    r"(?![0-9])"
)
# Taiwan national ID (a letter, 1 or 2 for the sex, or 8/9 on a resident certificate, and 8
# digits: A123456789) and Hong Kong identity card (one or two letters, six digits, the check
# digit in brackets: A123456(7); without brackets see _hkid_checks).
_TW_ID = r"(?<![a-z0-9])[a-z][1289][0-9]{8}(?![a-z0-9])"
_HK_ID = r"(?<![a-z0-9])[a-z]{1,2}[0-9]{6}\s?\([0-9a]\)"
_HK_ID_BARE = re.compile(r"(?<![a-z0-9])([a-z]{1,2})([0-9]{6})([0-9a])(?![a-z0-9])", re.IGNORECASE)
# QQ numbers and WeChat ids after their name: "QQ 12345678", "qq号：123456", "微信号 wxid_ab12cd",
# "WeChat: zs_1990", "vx: abc123". Only the id is withheld.
_QQ_WECHAT = re.compile(
    r"(?<![a-z])(?:qq|扣扣)\s*+(?:号码|號碼|号|號|number|no\.?|id)?\s*+[:：]?\s*+(?P<qq>[1-9][0-9]{4,11})"
    r"(?![0-9])"
    r"|(?:微信|weixin|wechat|(?<![a-z])(?:vx|wx|v信))\s*+(?:号|號|id)?\s*+[:：]?\s*+"
    r"(?P<wx>[a-z][a-z0-9_-]{5,19})(?![a-z0-9_-])",
    re.IGNORECASE,
)
# Mainland mobile, with or without +86 / 0086 / (+86), written 13812345678, 138-1234-5678 or
# 138 1234 5678.
_MOBILE = (
    r"(?<![0-9+])(?:(?:\+|00)\s?86[\s-]?|\(\+?86\)\s?)?"
    r"1[3-9][0-9](?:[\s-]?[0-9]{4}){2}(?![0-9])"
)
# Landline: area code 0xx or 0xxx (or in brackets), then a 7 or 8 digit local number, also
# written in two groups (0571 8888 6666).
_LANDLINE = (
    r"(?<![0-9])(?:\(0[1-9][0-9]{1,2}\)|0[1-9][0-9]{1,2})[\s-]?"
    r"[1-9][0-9]{2,3}[\s-]?[0-9]{4}(?![0-9])"
)
_CONTACTS = re.compile(
    f"{_EMAIL}|{_ID_CARD}|{_TW_ID}|{_HK_ID}|{_MOBILE}|{_LANDLINE}", re.IGNORECASE
)

# What may stand between the parts of a name: "王 建国", "Smith, John", "买买提·艾力".
_NAME_GAP = r"[\s.,·・•_-]{0,3}"
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_MIN_LOCAL_PART = 5  # shorter local parts ("li", "info") are words too often to mask alone
_MIN_NAME_PIECE = 3  # "Jianguo", "Wang" alone in a signature; not "Li", "Mr"

WITHHELD_ZH, WITHHELD_EN = "[已隐去]", "[withheld]"
# As long as any one address or number we redact (an address has at most 64 + 1 + 255
# characters, RFC 5321 s4.5.3.1): see StaffView.excerpt.
_EXCERPT_MARGIN = 320


def withheld_mark(language: str) -> str:
    return WITHHELD_EN if language.lower().startswith("en") else WITHHELD_ZH


def redact(text: str, *, name: str, email: str, label: str, withheld: str) -> str:
    """`text` with the complainant (`name`, `email`: display name and address, either may be
    empty) replaced by `label`, and every other mail address, phone or ID number by `withheld`.

    Matching is case-insensitive, full-width-insensitive and, for Chinese names, also matches
    the traditional or simplified spelling and spaces inside the name.
    """
    if not text:
        return text
    folded = text.translate(_WIDTH)
    own = _own_pattern(
        name.translate(_WIDTH).strip(), email.translate(_WIDTH).strip(), names_in(folded)
    )
    spans: list[tuple[int, int, str]] = []
    if own is not None:
        spans += [(m.start(), m.end(), label) for m in own.finditer(folded) if m.end() > m.start()]
    contacts = [(m.start(), m.end()) for m in _CONTACTS.finditer(folded)]
    spans += [(start, end, withheld) for start, end in contacts]
    spans += [(start, end, withheld) for start, end in phone_spans(folded, contacts)]
    spans += [(*_id_span(m), withheld) for m in _QQ_WECHAT.finditer(folded)]
    spans += [(m.start(), m.end(), withheld) for m in _HK_ID_BARE.finditer(folded) if _hkid(m)]
    # Overlapping matches are hidden as one; it is the complainant (the pseudonym) when any of
    # them is: "wangjianguo at qq dot com" is theirs, and also "another address".
    merged: list[tuple[int, int, str]] = []
    for start, end, mark in sorted(spans):
        if merged and start < merged[-1][1]:
            first, last_end, last_mark = merged.pop()
            kept = label if label in (last_mark, mark) else mark
            merged.append((first, max(last_end, end), kept))
        else:
            merged.append((start, end, mark))
    out, at = [], 0
    for start, end, mark in merged:
        out += [text[at:start], mark]
        at = end
    return "".join(out) + text[at:]


def _id_span(m: re.Match[str]) -> tuple[int, int]:
    group = "qq" if m.group("qq") else "wx"
    return m.start(group), m.end(group)


def _hkid(m: re.Match[str]) -> bool:
    """A Hong Kong identity card number written without brackets, when its check digit is
    right (mod 11 over the letters and digits): one letter and seven digits are also codes."""
    letters, digits, check = m.group(1).upper(), m.group(2), m.group(3).upper()
    values = [36] * (2 - len(letters)) + [ord(c) - 55 for c in letters] + [int(d) for d in digits]
    total = sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True))
    expected = (11 - total % 11) % 11
    return check == ("A" if expected == 10 else str(expected))


def _own_pattern(name: str, email: str, names: tuple[str, ...] = ()) -> re.Pattern[str] | None:
    """One pattern for the complainant's name (the From display name and the names they sign
    with: whole, reversed, their longer Latin pieces), their address and its local part (a QQ
    number, a login written alone in a signature, a pinyin name: wangjianguo, Wang Jianguo)."""
    alternatives = list(_address_alternatives(email))  # a copy: the cached list stays
    for each in dict.fromkeys((name, *names)):
        alternatives += _name_alternatives(each)
    return _compiled(tuple(alternatives))


@lru_cache(maxsize=256)
def _compiled(alternatives: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None


@lru_cache(maxsize=256)
def _address_alternatives(email: str) -> list[str]:
    alternatives: list[str] = []
    if "@" in email:
        alternatives.append(re.escape(email))
        local = email.partition("@")[0]
        if len(local) >= _MIN_LOCAL_PART:
            alternatives.append(rf"(?<![a-z0-9._%+-]){re.escape(local)}(?![a-z0-9_%+-])")
        alternatives += _pinyin_alternatives(local)
    return alternatives


_SYLLABLE_GAP = r"[\s._-]?"
_MIN_PINYIN = 6  # letters of a local part read as a name: "wangjianguo", not "li" or "info"


def _pinyin_alternatives(local: str) -> list[str]:
    """A login made of a pinyin name ("wangjianguo1990") as the name is written in a text:
    "Wang Jianguo", "wang.jianguo", "Jianguo Wang" (family name last: any split of the
    letters, as we cannot know the syllables)."""
    letters = re.sub(r"[^a-z]", "", local.lower())
    if len(letters) < _MIN_PINYIN or not re.fullmatch(r"[a-z]+[0-9._-]*", local.lower()):
        return []

    def spaced(part: str) -> str:
        return _SYLLABLE_GAP.join(part)

    found = [rf"(?<![a-z]){spaced(letters)}(?![a-z])"]
    for cut in range(2, len(letters) - 1):
        head, tail = letters[:cut], letters[cut:]
        found.append(rf"(?<![a-z]){spaced(tail)}[\s,._-]{{1,2}}{spaced(head)}(?![a-z])")
    return found


@lru_cache(maxsize=256)
def _name_alternatives(name: str) -> list[str]:
    alternatives: list[str] = []
    pieces = re.findall(r"\w+", name)
    units = [c for p in pieces for c in (list(p) if _CJK.search(p) else [p])]
    if len("".join(units)) >= 2:
        alternatives.append(_units_pattern(units))
        latin = [p for p in pieces if p.isascii()]
        if len(latin) > 1:  # "Jianguo Wang" is also written "Wang Jianguo"
            alternatives.append(_units_pattern(latin[::-1]))
        alternatives += [
            _units_pattern([p]) for p in latin if len(p) >= _MIN_NAME_PIECE and not p.isdigit()
        ]
    return alternatives


def _units_pattern(units: list[str]) -> str:
    body = _NAME_GAP.join(_spellings(u) for u in units)
    # Latin names are words; Chinese ones run straight into the text (王建国先生).
    before = r"(?<![a-z0-9])" if units[0][0].isascii() else ""
    after = r"(?![a-z0-9])" if units[-1][-1].isascii() else ""
    return before + body + after


def _spellings(unit: str) -> str:
    if len(unit) != 1 or not _CJK.match(unit):
        return re.escape(unit)
    forms = sorted({unit, to_simplified(unit), _to_traditional(unit)} - {""})
    return f"[{''.join(forms)}]" if len(forms) > 1 else re.escape(unit)


@lru_cache(maxsize=4096)
def _to_traditional(char: str) -> str:
    return opencc_converter("s2t").convert(char)


# -- who sees what ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffView:
    """The complainant as one staff member may see them; call it on any text of the case."""

    complainant: str  # their name and address, or the pseudonym
    hidden: bool
    name: str = ""
    email: str = ""
    withheld: str = WITHHELD_ZH

    def __call__(self, text: str) -> str:
        if not self.hidden:
            return text
        return redact(
            text, name=self.name, email=self.email, label=self.complainant, withheld=self.withheld
        )

    def excerpt(self, text: str, limit: int) -> str:
        """The first `limit` characters of the text as this member reads it, redacting only a
        little more than that (a long mail is never redacted whole to show its start)."""
        size = limit + 2 * _EXCERPT_MARGIN
        while True:
            # Text cut mid-address or mid-number at the end of the slice can escape redaction;
            # it lies in the last _EXCERPT_MARGIN characters of what redaction returns (the
            # text after the last mark is the original's), which the excerpt must not reach.
            seen = self(text[:size])
            if size >= len(text) or len(seen) >= limit + _EXCERPT_MARGIN:
                return seen[:limit]
            size *= 2


def identity_hidden(app: App, member: StaffMember) -> bool:
    # Intake answers the complainant and knows who they are; anyone else (the handling, legal
    # or tech group, supervisors, leadership) only when the policy says so.
    routing = app.policy.routing
    return routing.intake_group not in member.groups and not routing.identity_visible_outside_intake


def staff_view(app: App, case: Case, member: StaffMember, language: str) -> StaffView:
    """How `member` reads the case's complainant and their words, in a mail in `language`."""
    name, email = case.complainant_name or "", case.complainant_email or ""
    if not identity_hidden(app, member):
        # Not email.utils.formataddr: it RFC 2047-encodes a Chinese name, and this is for reading.
        return StaffView(f"{name} <{email}>" if name else email, hidden=False)
    label = pseudonymise(email or name, case.number, app.policy.routing.pseudonym_prefix)
    return StaffView(label, hidden=True, name=name, email=email, withheld=withheld_mark(language))
