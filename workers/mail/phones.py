"""Phone numbers in a text, for redaction: mainland, Taiwan and Hong Kong numbers in any of the
ways people write them (138.1234.5678, 0912-345-678, +852 9123 4567, (02)2345-6789).

libphonenumber (`phonenumbers`) decides what is a number, region by region (CN, TW, HK), at
leniency VALID: POSSIBLE also takes dates (2026-03-12). It runs only on the short stretches of
digits and separators that could hold one, so a long mail costs no more than its digits. Without a
word for a phone before it (电话, 手机, tel, …) a number counts when it has a country code or a
trunk 0, or is a mobile written as one: a bare run of digits only at a mobile's full length (11
digits in the mainland, 09 and 8 more in Taiwan), as an 8-digit order number is a valid Hong
Kong number too, and a local landline number alone looks like a date (2024-03-15 10). Service numbers (400, 800, toll-free) are a company's, not a person's.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence

import phonenumbers
from phonenumbers import PhoneNumberType

REGIONS = ("CN", "TW", "HK")
_TYPES_NOT_PERSONAL = {
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.UAN,
    PhoneNumberType.VOIP,
}
# Digits with the separators numbers are written with, on one line; possessive: each stretch
# is found once, whole.
_STRETCH = re.compile(r"[+(]?[0-9][0-9 \t().+-]*+")
_MAX_STRETCH = 40  # longer stretches are tables of figures, not one phone number
_MIN_DIGITS = 7
_CUE = re.compile(
    r"(电话|電話|手机|手機|联系|聯絡|聯繫|致电|致電|call|phone|tel|mobile|whatsapp|sms|短信|简讯|簡訊)"
    r"[^0-9]{0,6}$",
    re.IGNORECASE,
)
_CUE_WINDOW = 16


def _bare_mobile(digits: str) -> bool:
    return (len(digits) == 11 and digits[0] == "1") or (len(digits) == 10 and digits[:2] == "09")


def _looks_personal(raw: str, number: phonenumbers.PhoneNumber) -> bool:
    """Without a word for a phone before it: written with a country code or a trunk 0 (a
    landline with its area code), or a mobile written as one (separated, or its full length).
    A local landline number alone is too like a date or a reference (2024-03-15 10)."""
    digits = re.sub(r"[^0-9]", "", raw)
    if raw.startswith(("+", "(", "00")) or digits.startswith("0"):
        return True
    mobile = phonenumbers.number_type(number) == PhoneNumberType.MOBILE
    return mobile and (not raw.isdigit() or _bare_mobile(digits))


def phone_spans(text: str, known: Sequence[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """(start, end) of each personal phone number in `text` (ASCII digits: fold full width
    first). `known`: sorted spans already withheld; a stretch inside one is not looked at
    (libphonenumber costs about a millisecond a stretch and region)."""
    spans: list[tuple[int, int]] = []
    starts = [start for start, _ in known]
    for stretch in _STRETCH.finditer(text):
        window = stretch.group().rstrip(" \t.-(")
        if len(window) > _MAX_STRETCH or sum(c.isdigit() for c in window) < _MIN_DIGITS:
            continue
        end = stretch.start() + len(window)
        i = bisect_right(starts, stretch.start()) - 1
        if i >= 0 and known[i][1] >= end:
            continue
        before = text[max(0, stretch.start() - _CUE_WINDOW) : stretch.start()]
        cued = _CUE.search(before) is not None
        # A country code says the region itself: one pass is enough.
        regions = REGIONS[:1] if window.startswith(("+", "00")) else REGIONS
        for region in regions:
            for match in phonenumbers.PhoneNumberMatcher(
                window, region, leniency=phonenumbers.Leniency.VALID
            ):
                if phonenumbers.number_type(match.number) in _TYPES_NOT_PERSONAL:
                    continue
                if cued or _looks_personal(match.raw_string, match.number):
                    spans.append((stretch.start() + match.start, stretch.start() + match.end))
    return spans
