"""Signed reply addresses: encode and decode in one place.

Outgoing mail sets Reply-To to `local+TS-2026-000123.k3f9x2@domain` (complainant) or
`local+TS-2026-000123.li.k3f9x2@domain` (staff member `li`). The token is an HMAC of the case
number (and staff id) under the server secret, so a reply proves which case (and which staff
member's notification) it answers. A token that does not verify is ignored, never trusted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

_TOKEN_LEN = 10  # 50 bits of base32: forging needs ~10^15 guesses
_STAFF_ID = re.compile(r"^[a-z0-9_-]{1,32}$")


@dataclass(frozen=True)
class ReplyToken:
    case_number: str
    staff_id: str | None


def sign(secret: str, case_number: str, staff_id: str | None = None) -> str:
    msg = f"{case_number}|{staff_id or ''}".encode()
    mac = hmac.new(secret.encode(), msg, hashlib.sha256).digest()
    return base64.b32encode(mac).decode().lower()[:_TOKEN_LEN]


def reply_address(intake: str, secret: str, case_number: str, staff_id: str | None = None) -> str:
    local, _, domain = intake.partition("@")
    if staff_id is not None and not _STAFF_ID.match(staff_id):
        raise ValueError(f"staff id {staff_id!r} cannot be put in an address")
    parts = [case_number] + ([staff_id] if staff_id else []) + [sign(secret, case_number, staff_id)]
    return f"{local}+{'.'.join(parts)}@{domain}"


def read_reply_address(address: str, intake: str, secret: str) -> ReplyToken | None:
    """The verified token in `address`, or None (not ours, malformed, or a bad signature)."""
    local, _, domain = address.strip().lower().partition("@")
    intake_local, _, intake_domain = intake.lower().partition("@")
    base, plus, detail = local.partition("+")
    if not plus or base != intake_local or domain != intake_domain:
        return None
    parts = detail.split(".")
    if len(parts) not in (2, 3):
        return None
    case_number, token = parts[0].upper(), parts[-1]
    staff_id = parts[1] if len(parts) == 3 else None
    if not hmac.compare_digest(sign(secret, case_number, staff_id), token):
        return None
    return ReplyToken(case_number, staff_id)
