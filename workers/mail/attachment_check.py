"""Look inside compressed attachments without inflating them past a budget.

We never unpack attachments for our own use, but staff will: a zip or gzip bomb is flagged on
the attachment (the case is still created) so nobody opens it blindly.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass

INFLATE_BUDGET = 100 * 1024 * 1024  # bytes we are willing to inflate to look
MAX_RATIO = 500  # documents compress 2-20x, repetitive logs ~100x; bombs ~1000x
# Past the first MiB inflated, a stream still inflating more than 100 bytes per byte read is
# flagged without inflating the rest: a bomb shows itself at once, and 500 parts of 100 MB of
# zeros each cost 50 GB of inflating where this costs 500 MB, and the mail's budget less.
EARLY_BYTES = 1 << 20
EARLY_RATIO = 100
_STEP = 1 << 20


@dataclass
class InflateBudget:
    """The bytes one mail's attachments may still inflate to, over all its parts (policy
    limits.max_inflate_bytes_per_mail); `spent` is what they did inflate."""

    remaining: int = INFLATE_BUDGET
    spent: int = 0

    def take(self, n: int) -> None:
        self.remaining -= n
        self.spent += n


def check_zip(payload: bytes, budget: int = INFLATE_BUDGET) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        return f"unreadable zip: {e}"
    declared = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if declared > budget:
        return f"zip bomb? declares {declared} bytes unpacked (budget {budget})"
    if declared / packed > MAX_RATIO:
        return f"zip bomb? compression ratio {declared // packed}:1"
    if len(infos) > 10_000:
        return f"zip with {len(infos)} members"
    return None


def check_gzip(payload: bytes, budget: int | InflateBudget = INFLATE_BUDGET) -> str | None:
    """Inflate in bounded steps: the ISIZE trailer can lie, the stream cannot. Every member
    counts: gunzip inflates concatenated members (RFC 1952 s2.2) one after the other.
    `budget`: bytes this payload may inflate to, or the mail's shared InflateBudget."""
    shared = budget if isinstance(budget, InflateBudget) else InflateBudget(budget)
    if shared.remaining <= 0:
        return "not inspected: the mail's attachments used up the inflation budget"
    limit = shared.remaining
    total, data, first = 0, payload, True
    try:
        # The first member is read whatever it starts with (garbage is "unreadable"); after
        # it, only what starts like a member: trailing padding or junk is not inflated.
        while data and (first or data[:2] == b"\x1f\x8b"):
            first = False
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            while data and not inflater.eof:
                # Past the end of a member, decompress(data, n) returns nothing, keeps the
                # rest as unconsumed_tail and appends it to unused_data on every call: the
                # eof test is what ends this loop.
                chunk = inflater.decompress(data, _STEP)
                total += len(chunk)
                shared.take(len(chunk))
                if total > limit:
                    return f"gzip bomb? inflates past {limit} bytes"
                data = inflater.unconsumed_tail
                read = len(payload) - len(data) - len(inflater.unused_data)
                if total > EARLY_BYTES and total > EARLY_RATIO * max(read, 1):
                    return f"gzip bomb? compression ratio over {EARLY_RATIO}:1"
            if not inflater.eof:
                break  # cut short: what arrived has been counted
            data = inflater.unused_data
    except zlib.error as e:
        return f"unreadable gzip: {e}"
    if total / max(len(payload), 1) > MAX_RATIO:
        return f"gzip bomb? compression ratio {total // len(payload)}:1"
    return None


def flag_attachment(
    filename: str, content_type: str, payload: bytes, budget: InflateBudget | None = None
) -> str | None:
    """Why the attachment needs care, or None. `budget`: the mail's, shared by its parts."""
    name, ctype = filename.lower(), content_type.lower()
    # gzip first: "application/gzip" contains "zip".
    if payload[:2] == b"\x1f\x8b" or name.endswith((".gz", ".tgz")) or "gzip" in ctype:
        return check_gzip(payload, budget if budget is not None else INFLATE_BUDGET)
    if payload[:4] == b"PK\x03\x04" or name.endswith(".zip") or ctype.endswith("/zip"):
        return check_zip(payload)
    return None
