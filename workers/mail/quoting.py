"""Cut the quoted original, the attribution line and the signature off a reply.

`strip_quoted(text)` returns only what the sender wrote this time. The markers are those that
the mail clients our complainants and staff use put above a quote: Gmail and Apple Mail
attribution lines (English and Chinese), Outlook separators and header blocks (English and
Chinese), Foxmail/QQ and 163/126 separators, `>` quoting, and `-- ` signatures. Pure regexes
over lines: mail-parser has no quote stripper and none is installed.
"""

from __future__ import annotations

import re

# A separator line the client writes above the original: Outlook, Thunderbird, Foxmail, QQ,
# 163/126 ("Replied Message"), Outlook Web (a long row of underscores).
_SEPARATOR = re.compile(
    r"^(-{2,}\s*(original\s+message|original|原始邮件|原始郵件|replied\s+message|回复的原邮件)"
    r"\s*-{2,}|_{10,})$",
    re.IGNORECASE,
)
# "On Wed, Sep 30, 2026 at 10:00 AM 张三 <x@y> wrote:" (Gmail, Apple Mail) and the Chinese
# forms: "在 2026年9月30日周三 10:00，张三 <x@y> 写道：" (Gmail), 163/126 with the date first,
# "张三 <x@y> 于2026年9月30日 写道：". An address or a clock time keeps prose ("他在信中写道：")
# from matching; a line that Gmail wrapped must start like an attribution.
_ATTRIBUTION = re.compile(r"^(on\s.+\swrote\s*:|.+[写寫]道\s*[:：])$", re.IGNORECASE)
_ATTRIBUTION_EVIDENCE = re.compile(r"@|\d{1,2}:\d{2}")
_ATTRIBUTION_START = re.compile(r"^(on\s|在\s*\d)|@", re.IGNORECASE)
# An Outlook/Foxmail header block: a From line, then a date line within a few lines.
_FROM_HEADER = re.compile(r"^\**\s*(from|发件人|發件人|寄件者)\s*\**\s*[:：]", re.IGNORECASE)
_DATE_HEADER = re.compile(
    r"^\**\s*(sent|date|发送时间|發送時間|傳送時間|时间|時間|日期|寄件日期)\s*\**\s*[:：]",
    re.IGNORECASE,
)
_HEADER_BLOCK_LINES = 5
_SIGNATURE = re.compile(
    r"^(--|sent from my .+|get outlook for .+|发自我的.+|發自我的.+|从我的.+发送|從我的.+傳送)$",
    re.IGNORECASE,
)


def strip_quoted(text: str) -> str:
    """The new text of a reply: everything above the first quote or signature marker.

    A reply written under the quote (bottom-posting, or answers between `>` lines) keeps its
    unquoted lines instead, so a reply is never emptied just because it starts with a quote.
    """
    lines = _normalise(text).split("\n")
    cut = _first_marker(lines)
    if cut is None:
        return _tidy(lines)
    above = _tidy(lines[:cut])
    if above or not _starts_angle_quote(lines, cut):
        return above
    below = [line for i, line in enumerate(lines[cut:], cut) if not _is_quote_line(lines, i)]
    return strip_quoted("\n".join(below))


def _normalise(text: str) -> str:
    # Foxmail's plain-text part keeps "&nbsp;" from its HTML; Outlook uses U+00A0.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("&nbsp;", " ").replace("\u00a0", " ")


def _tidy(lines: list[str]) -> str:
    return "\n".join(line.rstrip() for line in lines).strip("\n").rstrip()


def _first_marker(lines: list[str]) -> int | None:
    return next((i for i in range(len(lines)) if _is_marker(lines, i)), None)


def _is_marker(lines: list[str], i: int) -> bool:
    line = lines[i].strip()
    if lines[i].rstrip(" ") == "--" or (line and _SIGNATURE.match(line)):
        return True
    return (
        line.startswith(">")
        or bool(_SEPARATOR.match(line))
        or _is_attribution(lines, i)
        or _is_header_block(lines, i)
    )


def _is_attribution(lines: list[str], i: int) -> bool:
    """An attribution line, or one that Gmail wrapped onto the next line."""
    line = lines[i].strip()
    if not line:
        return False
    candidates = [line]
    if i + 1 < len(lines) and lines[i + 1].strip() and _ATTRIBUTION_START.search(line):
        candidates.append(f"{line} {lines[i + 1].strip()}")
    return any(
        _ATTRIBUTION.match(c) and _ATTRIBUTION_EVIDENCE.search(c) and len(c) < 300
        for c in candidates
    )


def _is_header_block(lines: list[str], i: int) -> bool:
    if not _FROM_HEADER.match(lines[i].strip()):
        return False
    following = lines[i + 1 : i + 1 + _HEADER_BLOCK_LINES]
    return any(_DATE_HEADER.match(line.strip()) for line in following)


def _starts_angle_quote(lines: list[str], i: int) -> bool:
    """True when the marker at `i` opens a `>` quote (directly or after an attribution)."""
    if lines[i].strip().startswith(">"):
        return True
    if not _is_attribution(lines, i):
        return False
    rest = [line.strip() for line in lines[i + 1 :] if line.strip()]
    # The wrapped second half of an attribution line is skipped.
    rest = rest[1:] if rest and not _ATTRIBUTION.match(lines[i].strip()) else rest
    return bool(rest) and rest[0].startswith(">")


def _is_quote_line(lines: list[str], i: int) -> bool:
    line = lines[i].strip()
    if line.startswith(">"):
        return True
    wrapped_tail = (
        i > 0 and _is_attribution(lines, i - 1) and not _ATTRIBUTION.match(lines[i - 1].strip())
    )
    return _is_attribution(lines, i) or wrapped_tail
