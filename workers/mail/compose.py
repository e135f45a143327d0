"""Build the bytes of one outgoing mail: threading, RFC 3834 marks, the signed Reply-To.

Every header value that may come from incoming mail passes through `one_line` (text) or
`message_id` (threading ids): CR/LF in a decoded subject, display name or Message-ID must never
become an extra header or recipient in our mail (and we do not rely on the email package to
refuse them).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from email.contentmanager import raw_data_manager
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP, Policy, compat32
from email.utils import format_datetime, formataddr, make_msgid

from models.types import utcnow

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
_ADDR = re.compile(r"^[^\s<>()\[\],;:\"@\x00-\x1f\x7f]+@[^\s<>()\[\],;:\"@\x00-\x1f\x7f]+$")
_MSG_ID = re.compile(r"^[!-;=?-~]{1,900}$")  # printable ASCII but space, < and > (RFC 5322 s3.6.4)
_PLAIN = re.compile(r"[!-~]+(?: [!-~]+)*")  # printable ASCII words between single spaces
MAX_REFERENCES = 20
MAX_DISPLAY_NAME = 100
MAX_LINE = 78  # RFC 5322 s2.1.1: a line SHOULD have no more than 78 characters
# SMTP's line length, line ending and 8bit bodies, without the header objects EmailPolicy builds
# (several times the cost of encoding a body): for `encode_body` only.
_BODY_POLICY = compat32.clone(linesep="\r\n", max_line_length=MAX_LINE, cte_type="8bit")


def one_line(value: str, limit: int = 900) -> str:
    """Text for one header line. RFC 2047 s5: text that looks like an encoded word is read as
    one, and the email package decodes encoded words when a header is set: a subject that came
    in as "=?utf-8?q?=0D=0ABcc:_victim@example.com?=" (still an encoded word after our own
    decoding) would be written out as CR LF and a real Bcc: line. So "=?" opens nothing here."""
    return " ".join(_CONTROL.sub(" ", value).split()).replace("=?", "= ?")[:limit]


def message_id(value: str | None) -> str | None:
    """A Message-ID to thread on (without <>), or None for one we must not echo: whitespace,
    control or non-ASCII characters, or an encoded word that a reader would decode."""
    value = (value or "").strip().removeprefix("<").removesuffix(">")
    return value if _MSG_ID.match(value) and "=?" not in value else None


class _Verbatim(str):
    """A header the email package writes exactly as we built it. It refolds address headers
    from their parse tree and, for a display name with non-ASCII text and specials in it
    (CPython 3.11), encodes only the non-ASCII words and drops the quotes: the name
    "李四 Bcc: victim@example.com" came out as a group holding victim@example.com."""

    name: str

    def __new__(cls, name: str, value: str) -> _Verbatim:
        header = super().__new__(cls, value)
        header.name = name
        return header

    def fold(self, *, policy: Policy) -> str:
        return f"{self.name}: {self}{policy.linesep}"


def address_header(name: str, display_name: str, address: str) -> _Verbatim:
    """`Name <address>` for From/To: an ASCII name quoted as needed, any other name as RFC 2047
    encoded words in full, so no part of it can read as an address, a group or a header."""
    display = one_line(display_name, limit=MAX_DISPLAY_NAME)
    address = checked_address(address)
    if display.isascii() and address.isascii():
        return _Verbatim(name, formataddr((display, address)))
    if display.isascii():
        # formataddr refuses a non-ASCII address; one is UTF-8 as written (RFC 6532 s3.2),
        # sent only where the server offers SMTPUTF8 (workers/outbound/envelope.py).
        quoted = formataddr((display, "x@x")).removesuffix(" <x@x>") if display else ""
        return _Verbatim(name, f"{quoted} <{address}>" if quoted else address)
    words = Header(display, "utf-8", header_name=name).encode(linesep="\r\n")
    return _Verbatim(name, f"{words} <{address}>")


def checked_address(address: str) -> str:
    address = address.strip()
    if not _ADDR.match(address):
        raise ValueError(f"not a single mail address: {address!r}")
    return address


def new_message_id(domain: str) -> str:
    return make_msgid(idstring="cd", domain=domain).strip("<>")


@dataclass(frozen=True)
class OutgoingMail:
    from_addr: str
    from_name: str
    to_addr: str
    to_name: str
    subject: str
    text: str
    html: str
    message_id: str  # without <>
    reply_to: str
    case_number: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    # RFC 3834: "auto-replied" answers a mail, "auto-generated" is a reminder; None is a
    # mail a person wrote (staff-driven result mails are still sent on their behalf).
    auto_submitted: str | None = "auto-replied"


def compose(mail: OutgoingMail) -> bytes:
    """The mail as CRLF bytes: multipart/alternative, text and HTML in UTF-8.

    Written out directly rather than through EmailMessage and the SMTP policy, whose header
    parsing and refolding cost several ms a mail: every value here is already one line (see
    `one_line`, `message_id`, `address_header`), so a header needs only RFC 2047 encoding when
    it is not ASCII and folding when it is long, which `_header` does with email.header.
    """
    headers = [
        address_header("From", mail.from_name, mail.from_addr),
        address_header("To", mail.to_name, mail.to_addr),
        _header("Subject", one_line(mail.subject)),
        _header("Date", format_datetime(utcnow())),
        _header("Message-ID", f"<{one_line(mail.message_id)}>"),
        _header("Reply-To", checked_address(mail.reply_to)),
    ]
    in_reply_to = message_id(mail.in_reply_to)
    if in_reply_to:
        headers.append(_header("In-Reply-To", f"<{in_reply_to}>"))
    refs = [ref for ref in map(message_id, mail.references) if ref][-MAX_REFERENCES:]
    if refs:
        headers.append(_header("References", " ".join(f"<{r}>" for r in refs)))
    if mail.case_number:
        headers.append(_header("X-Complaintdesk-Case", one_line(mail.case_number)))
    if mail.auto_submitted:
        headers.append(_header("Auto-Submitted", one_line(mail.auto_submitted)))
        # Exchange/Outlook: do not answer this with out-of-office or read receipts.
        headers.append(_header("X-Auto-Response-Suppress", "All"))
    boundary = _boundary()
    out = [h.fold(policy=SMTP) for h in headers]
    out.append("MIME-Version: 1.0\r\n")
    out.append(f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n')
    for subtype, body in (("plain", mail.text), ("html", mail.html)):
        cte, payload = encode_body(body)
        out.append(
            f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {cte}\r\n\r\n"
        )
        out.append(payload.replace("\r\n", "\n").replace("\n", "\r\n"))
    out.append(f"--{boundary}--\r\n")
    # An 8bit body is UTF-8 text, the rest is ASCII.
    return "".join(out).encode("utf-8", "surrogateescape")


def encode_body(text: str) -> tuple[str, str]:
    """(Content-Transfer-Encoding, body) of UTF-8 text as EmailMessage.set_content chooses them:
    7bit or 8bit when no line is longer than 78 characters, else quoted-printable or base64,
    whichever is shorter."""
    part = EmailMessage(policy=_BODY_POLICY)
    part.set_content(text, charset="utf-8", content_manager=raw_data_manager)
    payload = part.get_payload()
    assert isinstance(payload, str)  # a text part's payload, never a list of parts
    return str(part["Content-Transfer-Encoding"]), payload


def _header(name: str, value: str) -> _Verbatim:
    """One header of ours: RFC 2047 encoded words if the (one-line) value is not ASCII, folded
    at whitespace when long. No decoding happens here, so "=?" in a value stays text."""
    # Most of our values (Date, Message-ID, Reply-To, ...) are such words and fit one line,
    # which Header.encode gives back unchanged at several times the cost of this check.
    if len(name) + 2 + len(value) <= MAX_LINE and _PLAIN.fullmatch(value):
        return _Verbatim(name, value)
    charset = "us-ascii" if value.isascii() else "utf-8"
    return _Verbatim(name, Header(value, charset, header_name=name).encode(linesep="\r\n"))


def _boundary() -> str:
    return "===============" + secrets.token_hex(16) + "=="
