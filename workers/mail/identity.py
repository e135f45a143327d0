"""Tell whether two fetched mails are the same mail (the poller's dedupe key).

The same mail fetched twice (a UIDVALIDITY reset, a crash before flagging, two pollers) has the
same Message-ID and the same originator fields; a different mail that reuses a Message-ID does
not, so it is not merged silently. A mail without Message-ID is keyed by its bytes below the
trace fields that receiving servers prepend, so a second delivery of it is the same mail too.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

_HEADERS = BytesHeaderParser(policy=compat32)
# Fields a receiving server or delivery agent prepends (RFC 5321 s4.4 trace fields and their
# kin): the same mail delivered twice differs only in these, at the top of its header.
_ADDED_ON_DELIVERY = frozenset(
    {
        "received",
        "return-path",
        "delivered-to",
        "x-original-to",
        "envelope-to",
        "x-envelope-to",
        "x-envelope-from",
        "x-received",
        "received-spf",
        "authentication-results",
        "arc-seal",
        "arc-message-signature",
        "arc-authentication-results",
        "x-spam-status",
        "x-spam-score",
        "x-spam-flag",
        "x-spam-checker-version",
        "x-virus-scanned",
        "x-virus-status",
    }
)
_FIELD = re.compile(rb"([!-9;-~]+)[ \t]*:[^\n]*\n(?:[ \t][^\n]*\n)*")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class MailIdentity:
    message_id: str | None
    identity: str
    sha256: str


def normalise_message_id(value: str | None) -> str | None:
    """The Message-ID as text a database takes: no whitespace or control characters (NUL would
    fail on PostgreSQL), raw 8-bit octets as UTF-8."""
    if not value:
        return None
    value = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    value = _UNPRINTABLE.sub("", "".join(value.split())).strip("<>")
    return value[:900] or None


def without_delivery_fields(raw: bytes) -> bytes:
    """The mail below the fields receiving servers prepended on the way in."""
    position = 0
    while (field := _FIELD.match(raw, position)) and (
        field.group(1).decode("ascii").lower() in _ADDED_ON_DELIVERY
    ):
        position = field.end()
    return raw[position:]


def identify(raw: bytes) -> MailIdentity:
    digest = hashlib.sha256(raw).hexdigest()
    headers = _HEADERS.parsebytes(raw[:262144])  # the header block; never parse a body twice
    message_id = normalise_message_id(headers.get("Message-ID"))
    if message_id is None:
        body = hashlib.sha256(without_delivery_fields(raw)).hexdigest()
        return MailIdentity(None, f"sha:{body}", digest)
    fields = [message_id] + [str(headers.get(h, "")).strip() for h in ("From", "Date", "Subject")]
    key = hashlib.sha256("\0".join(fields).encode("utf-8", "surrogateescape")).hexdigest()
    return MailIdentity(message_id, f"mid:{key}", digest)
