"""Signed reply addresses: encode and decode in one place.

Outgoing mail sets Reply-To to `local+TS-2026-000123.k3f9x2@domain` (complainant) or
`local+TS-2026-000123.li.20791.k3f9x2@domain` (staff member `li`, issued on day 20791 of the
Unix epoch). The token is an HMAC of the case number (and staff id and issue day) under the
server secret, so a reply proves which case (and which staff member's notification, and how old
it is) it answers. A token that does not verify is ignored, never trusted.

Staff tokens carry their issue day so that a staff address stops authenticating commands after
`[staff_auth] token_days` (workers.casework.staff_auth): every mail we send a staff member
carries a fresh one, so an old notification forwarded to someone else is worthless. A staff
token of the earlier form (no day) still verifies, so its reply is filed on its case, but reads
as expired.

Rotation: `read_reply_address` takes the current key and the previous ones (verification only);
`reply_address` signs with the current key alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

_TOKEN_LEN = 10  # 50 bits of base32: forging needs ~10^15 guesses
_STAFF_ID = re.compile(r"^[a-z0-9_-]{1,32}$")
_DAY = re.compile(r"^[0-9]{1,6}$")  # a date Python can hold
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class ReplyToken:
    case_number: str
    staff_id: str | None
    # The day a staff token was issued; None for a complainant token or an old staff token.
    issued: date | None = None


def day_number(day: date) -> int:
    return (day - _EPOCH).days


def _today() -> date:
    return datetime.now(UTC).date()


def sign(secret: str, case_number: str, staff_id: str | None = None, day: int | None = None) -> str:
    fields = [case_number, staff_id or ""] + ([str(day)] if day is not None else [])
    mac = hmac.new(secret.encode(), "|".join(fields).encode(), hashlib.sha256).digest()
    return base64.b32encode(mac).decode().lower()[:_TOKEN_LEN]


def reply_address(
    intake: str,
    secret: str,
    case_number: str,
    staff_id: str | None = None,
    *,
    issued: date | None = None,
) -> str:
    """The signed reply address; a staff one is stamped with `issued` (default: today, UTC)."""
    local, _, domain = intake.partition("@")
    if staff_id is None:
        return f"{local}+{case_number}.{sign(secret, case_number)}@{domain}"
    if not _STAFF_ID.match(staff_id):
        raise ValueError(f"staff id {staff_id!r} cannot be put in an address")
    day = day_number(issued or _today())
    mac = sign(secret, case_number, staff_id, day)
    return f"{local}+{case_number}.{staff_id}.{day}.{mac}@{domain}"


def read_reply_address(address: str, intake: str, secret: str | Sequence[str]) -> ReplyToken | None:
    """The verified token in `address`, or None (not ours, malformed, or a bad signature).

    `secret`: the current key, or the current key and the previous ones still accepted."""
    local, _, domain = address.strip().lower().partition("@")
    intake_local, _, intake_domain = intake.lower().partition("@")
    base, plus, detail = local.partition("+")
    if not plus or base != intake_local or domain != intake_domain:
        return None
    parts = detail.split(".")
    if len(parts) not in (2, 3, 4):
        return None
    case_number, token = parts[0].upper(), parts[-1]
    staff_id = parts[1] if len(parts) >= 3 else None
    day = int(parts[2]) if len(parts) == 4 and _DAY.match(parts[2]) else None
    if len(parts) == 4 and day is None:
        return None
    keys = (secret,) if isinstance(secret, str) else tuple(secret)
    if not any(hmac.compare_digest(sign(k, case_number, staff_id, day), token) for k in keys if k):
        return None
    issued = date.fromordinal(_EPOCH.toordinal() + day) if day is not None else None
    return ReplyToken(case_number, staff_id, issued)
