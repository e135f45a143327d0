"""Case numbers (`TS-2026-000123`) and the `[TS-2026-000123]` tag in subjects."""

from __future__ import annotations

import re
from functools import lru_cache


def format_case_number(prefix: str, year: int, seq: int) -> str:
    return f"{prefix}-{year}-{seq:06d}"


@lru_cache(maxsize=4)
def _tag_pattern(prefix: str) -> re.Pattern[str]:
    # Clients may turn the brackets full-width (【】［］) or change case; accept both.
    return re.compile(
        rf"[\[【［]\s*({re.escape(prefix)}-\d{{4}}-\d{{6,}})\s*[\]】］]", re.IGNORECASE
    )


def case_tags(subject: str, prefix: str) -> list[str]:
    return [m.upper() for m in _tag_pattern(prefix).findall(subject)]


def strip_case_tags(subject: str, prefix: str) -> str:
    return _tag_pattern(prefix).sub(" ", subject)


def tagged_subject(case_number: str, subject: str, prefix: str) -> str:
    """`[TS-…] subject`, with any tag of ours already in the subject removed first."""
    bare = _tag_pattern(prefix).sub("", subject).strip()
    return f"[{case_number}] {bare}".strip()
