"""Keep links and addresses a sender wrote out of the subjects we send.

Anyone can write a complaint with someone else's From and a subject such as "退款通知：请登录
bank-refund.example 输入银行卡号"; our acknowledgement would carry that line, from the official
address, to the victim. So the sender's words that reach our subject lines (the case subject,
the original subject) pass through `defang`: a URL, a domain name, an email address, or a
phone-like run of seven or more digits (phone, card or account numbers) becomes "…".

Linear and bounded: the text is cut to `MAX_CHARS` first, and every pattern is a single
character-class run, so nothing backtracks over the input.
"""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 500  # a subject line; the rest is dropped ("…")
ELLIPSIS = "…"
# Invisible format characters (zero-width, bidi controls) that split a link to hide it.
_FORMAT = re.compile(r"[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
# A run of characters that may belong to a URL, an address or a host name, as one token
# (\w takes Han characters too: a link written inside a Chinese phrase takes the phrase along).
_DOT = r"[.\u3002\uff0e\uff61]"  # ".", and the ideographic and full-width full stops
_TOKEN = re.compile(r"[\w\-.@:/%?#&=+~\u3002\uff0e\uff61\uff0f\uff1a\uff20]+")
_SCHEME = re.compile(r"(?:[a-z][a-z0-9+.\-]{1,15}:/|www" + _DOT + ")", re.IGNORECASE)
_HOST = re.compile(r"[a-z0-9\-]+(?:" + _DOT + r"[a-z0-9\-]+)*" + _DOT + r"[a-z]{2,}", re.IGNORECASE)
# Digits with the separators phone and card numbers are written with.
_DIGITS = re.compile(r"[+(]?\d[\d\s().\-/]*")
_MIN_DIGITS = 7
_RUNS = re.compile("\u2026(?:[ \t]*\u2026)+")
# Digit runs that are no contact data: a date, and a case number's digits (TS-2026-000123).
_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\s*")
_CASE_DIGITS = re.compile(r"\d{4}-\d{6,}\s*")


def _risky_token(token: str) -> bool:
    token = unicodedata.normalize("NFKC", token)  # full-width letters, "＠", "．" as ASCII
    if "@" in token or _SCHEME.search(token):
        return True
    return _HOST.search(token) is not None


def _risky_digits(match: re.Match[str]) -> bool:
    run = match.group()
    if sum(ch.isdigit() for ch in run) < _MIN_DIGITS or _DATE.fullmatch(run):
        return False
    after_prefix = match.start() > 0 and match.string[match.start() - 1] == "-"
    return not (after_prefix and _CASE_DIGITS.fullmatch(run))


def defang(text: str | None) -> str:
    """`text` with every link, address and phone-like number replaced by "…"."""
    if not text:
        return ""
    cut = len(text) > MAX_CHARS
    text = _FORMAT.sub("", text[:MAX_CHARS])
    text = _TOKEN.sub(lambda m: ELLIPSIS if _risky_token(m.group()) else m.group(), text)
    text = _DIGITS.sub(lambda m: _keep_space(m.group()) if _risky_digits(m) else m.group(), text)
    text = _RUNS.sub(ELLIPSIS, text)
    return text + (ELLIPSIS if cut else "")


def _keep_space(run: str) -> str:
    """The run replaced, keeping the space that ended it (digits then a word)."""
    return ELLIPSIS + (" " if run[-1:].isspace() else "")
