"""The loop breaker: whether an automatic mail repeats one we sent the same address today.

Auto-responders that set none of the RFC 3834 headers answer each of our automatic mails with
a mail of their own, and each answer would earn another automatic mail from us. Their answers
and our replies keep one subject, give or take case tags and reply prefixes, so one automatic
mail per address per subject per day (policy) stops the ping-pong where the hourly cap only
slows it (Mailman's replybot grace period, Discourse's one rejection mail per address a day).
"""

from __future__ import annotations

import re

from workers.mail.casenumbers import strip_case_tags

# Reply, forward and out-of-office prefixes as clients stack them, anywhere in the subject.
_PREFIX = re.compile(
    r"(?:\b(?:re|fw|fwd|aw|sv|vs|wg|automatic reply|auto[- ]?reply|autoreply)"
    r"|回复|回覆|答复|答覆|转发|轉寄|轉發|自动回复|自動回覆|自动答复|自動答覆)\s*[:：]",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"\s*[:：]\s*")
_SPACE = re.compile(r"\s+")
_MAX_CHARS = 1000  # subjects are short; a long one is compared by its head


def subject_key(subject: str, case_prefix: str) -> str:
    """The subject without case tags and reply prefixes, with a segment repeated by nesting
    ("已受理：Re: [TS-1] 已受理：X" -> "已受理：X") said once, case-folded."""
    bare = _PREFIX.sub(" ", strip_case_tags(subject[:_MAX_CHARS], case_prefix))
    segments: list[str] = []
    for segment in _SEPARATOR.split(_SPACE.sub(" ", bare).strip().casefold()):
        if segment and segment not in segments:
            segments.append(segment)
    return ":".join(segments)


def repeats(subject: str, earlier: list[str], case_prefix: str) -> bool:
    """Whether `subject` says what one of the `earlier` subjects said."""
    key = subject_key(subject, case_prefix)
    return any(subject_key(one, case_prefix) == key for one in earlier)
