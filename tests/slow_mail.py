"""Test-only: a mail that takes too long, as a hostile text once made a heuristic take minutes.

`with_delay(parse, marker, seconds)` wraps ingest's parser: a mail carrying the marker spins
in Python for `seconds` before it is parsed (an async exception interrupts it, as it would a
heuristic); `with_time_limit(parse, marker)` raises Dramatiq's TimeLimitExceeded there instead,
as the message's time limit striking that mail would.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dramatiq.middleware.time_limit import TimeLimitExceeded

from workers.mail.parse import ParsedMail

Parse = Callable[[bytes], ParsedMail]


def with_delay(parse: Parse, marker: str, seconds: float) -> Parse:
    def slow_parse(raw: bytes) -> ParsedMail:
        if marker.encode() in raw:
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                time.sleep(0.01)
        return parse(raw)

    return slow_parse


def with_time_limit(parse: Parse, marker: str) -> Parse:
    def limited_parse(raw: bytes) -> ParsedMail:
        if marker.encode() in raw:
            raise TimeLimitExceeded()
        return parse(raw)

    return limited_parse
