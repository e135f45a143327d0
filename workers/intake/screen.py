"""Decide whether a parsed mail must never be answered, and say why.

Second step of ingest, after ``workers.mail.parse``: ``screen_mail(mail)`` returns a verdict for
automatic replies, bounces, list and bulk mail, our own mail coming back, mail loops and mail
without a sender, or None for mail a person wrote to us. The rules are one ordered table of
small named predicates (Mailman's rules/, Discourse's is_auto_generated?): the first hit wins
and its reason is shown to staff. ``bounced_message_ids`` finds which of our mails a bounce
is about, so the sender stage can mark that recipient failed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser, HeaderParser

from workers.mail.parse import ParsedMail, leaf_parts

# Mailbox names that send delivery reports (RFC 2142 s5: postmaster; MAILER-DAEMON by custom).
_DAEMONS = {"mailer-daemon", "mailerdaemon", "mail-daemon", "postmaster"}
# Subjects of delivery reports from Postfix, Exim, Sendmail, Exchange, Gmail, QQ and 163.
_BOUNCE_SUBJECT = re.compile(
    r"^(?:undeliverable|undelivered mail|undeliverable mail|delivery status notification"
    r"|delivery failure|mail delivery failed|returned mail|failure notice"
    r"|delivery has failed|系统退信|(?:退信|无法送达|未送达|無法傳遞)\s*(?:[:：]|$))",
    re.IGNORECASE,
)
# Out-of-office subjects of Outlook/Exchange (zh-CN, zh-TW, en), QQ, 163 and Gmail.
_AUTO_REPLY_SUBJECT = re.compile(
    r"^(?:自动回复|自動回覆|自动答复|自動答覆|自動回复|automatic reply|auto[- ]?reply"
    r"|autoreply|out of (?:the )?office|(?:休假|不在办公室|不在辦公室)(?:通知|中)?\s*(?:[:：]|$))",
    re.IGNORECASE,
)
# (key in ParsedMail.headers, name as shown to staff)
_LIST_HEADERS = (
    ("list-id", "List-Id"),
    ("list-unsubscribe", "List-Unsubscribe"),
    ("list-post", "List-Post"),
    ("mailing-list", "Mailing-List"),
)
# Exchange sets X-Auto-Response-Suppress on every mail it generates, whatever the value.
_VENDOR_AUTO_HEADERS = (
    ("x-autoreply", "X-Autoreply"),
    ("x-autorespond", "X-Autorespond"),
    ("x-auto-response-suppress", "X-Auto-Response-Suppress"),
)


@dataclass(frozen=True)
class ScreenVerdict:
    kind: str  # auto_reply, bounce, list, own_mail, loop, no_sender
    reason: str  # shown to staff, e.g. "Auto-Submitted: auto-replied (RFC 3834)"


@dataclass(frozen=True)
class _Context:
    own_addresses: frozenset[str]
    max_received_hops: int


Rule = Callable[[ParsedMail, _Context], ScreenVerdict | None]


def _first(mail: ParsedMail, name: str) -> str | None:
    values = mail.headers.get(name)
    return values[0] if values else None


def _shown(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _mailbox_key(address: str) -> str:
    """local@domain without a +subaddress (RFC 5233), lower-cased, for comparing addresses."""
    local, _, domain = address.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def _content_type(value: str | None) -> Message:
    holder = Message()
    holder["Content-Type"] = value or "text/plain"
    return holder


def own_mail(mail: ParsedMail, ctx: _Context) -> ScreenVerdict | None:
    """Mail we sent ourselves came back: our marker header, or From one of our addresses."""
    case = _first(mail, "x-complaintdesk-case")
    if case is not None:
        return ScreenVerdict("own_mail", f"X-Complaintdesk-Case: {_shown(case)} (our own mail)")
    own = {_mailbox_key(address) for address in ctx.own_addresses}
    if mail.from_addr and _mailbox_key(mail.from_addr) in own:
        return ScreenVerdict("own_mail", f"From is our own address {mail.from_addr}")
    return None


def loop(mail: ParsedMail, ctx: _Context) -> ScreenVerdict | None:
    """RFC 5321 s6.3: counting Received fields is the accepted way to spot a mail loop."""
    if mail.received_hops > ctx.max_received_hops:
        return ScreenVerdict(
            "loop",
            f"{mail.received_hops} Received headers, more than {ctx.max_received_hops} "
            "(mail loop, RFC 5321 s6.3)",
        )
    return None


def bounce(mail: ParsedMail, ctx: _Context) -> ScreenVerdict | None:
    """Delivery reports: RFC 3464 multipart/report, the null reverse-path (RFC 5321 s4.5.5),
    a mailer daemon as sender, or a bounce subject from servers that send none of those."""
    ctype = _content_type(_first(mail, "content-type"))
    report = str(ctype.get_param("report-type") or "").lower()
    if ctype.get_content_type() == "multipart/report" and report == "delivery-status":
        return ScreenVerdict("bounce", "multipart/report; report-type=delivery-status (RFC 3464)")
    if (_first(mail, "return-path") or "").replace(" ", "") == "<>":
        return ScreenVerdict("bounce", "Return-Path: <> (null sender, RFC 5321 s4.5.5)")
    local = mail.from_addr.rpartition("@")[0]
    if local in _DAEMONS:
        return ScreenVerdict("bounce", f"From {mail.from_addr}: a mail server's delivery report")
    if _BOUNCE_SUBJECT.match(mail.subject):
        return ScreenVerdict("bounce", f"Subject of a delivery report: {_shown(mail.subject)}")
    return None


def auto_reply(mail: ParsedMail, ctx: _Context) -> ScreenVerdict | None:
    """RFC 3834 s5 Auto-Submitted (anything but "no"), vendor headers, Precedence (RFC 3834
    s2 says responders must not answer bulk, junk or list mail) and out-of-office subjects."""
    ctype = _content_type(_first(mail, "content-type"))
    if (
        ctype.get_content_type() == "multipart/report"
        and str(ctype.get_param("report-type") or "").lower() == "disposition-notification"
    ):
        # A read receipt (RFC 8098) is a machine's answer, never a complaint.
        return ScreenVerdict(
            "auto_reply",
            "read receipt: multipart/report; report-type=disposition-notification (RFC 8098)",
        )
    submitted = _first(mail, "auto-submitted")
    if submitted is not None and submitted.split(";", 1)[0].strip().lower() != "no":
        return ScreenVerdict("auto_reply", f"Auto-Submitted: {_shown(submitted)} (RFC 3834)")
    for key, header in _VENDOR_AUTO_HEADERS:
        value = _first(mail, key)
        if value is not None:
            return ScreenVerdict("auto_reply", f"{header}: {_shown(value)} (automatic mail)")
    precedence = (_first(mail, "precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "auto_reply"):
        return ScreenVerdict("auto_reply", f"Precedence: {precedence} (RFC 3834 s2)")
    if _AUTO_REPLY_SUBJECT.match(mail.subject):
        return ScreenVerdict("auto_reply", f"Out-of-office subject: {_shown(mail.subject)}")
    return None


def mailing_list(mail: ParsedMail, ctx: _Context) -> ScreenVerdict | None:
    """List mail (RFC 2369, RFC 2919 List-Id); answering it would write to the whole list."""
    for key, header in _LIST_HEADERS:
        value = _first(mail, key)
        if value is not None:
            return ScreenVerdict("list", f"{header}: {_shown(value)} (mailing list)")
    if (_first(mail, "precedence") or "").strip().lower() == "list":
        return ScreenVerdict("list", "Precedence: list (RFC 3834 s2)")
    return None


def no_sender(mail: ParsedMail, ctx: _Context) -> ScreenVerdict | None:
    """Nobody to answer: no From, or one without an addr-spec."""
    if not mail.from_addr:
        return ScreenVerdict("no_sender", "no usable From address")
    return None


# Order matters: our own mail and loops first (they can carry any other marker), bounces
# before auto replies (RFC 3464 reports also carry Auto-Submitted), a sender last.
RULES: tuple[Rule, ...] = (own_mail, loop, bounce, auto_reply, mailing_list, no_sender)


def screen_mail(
    mail: ParsedMail, *, own_addresses: frozenset[str], max_received_hops: int = 50
) -> ScreenVerdict | None:
    """The first rule that says this mail must not be answered, or None for a person's mail."""
    ctx = _Context(frozenset(a.lower() for a in own_addresses), max_received_hops)
    for rule in RULES:
        verdict = rule(mail, ctx)
        if verdict is not None:
            return verdict
    return None


def _original_headers(raw: bytes) -> Iterator[Message]:
    """Header blocks of the returned mail inside a report: message/rfc822 and
    text/rfc822-headers parts (RFC 3464 s2, RFC 6522)."""
    try:
        message = BytesParser().parsebytes(raw)
        for part in leaf_parts(message):
            ctype = part.get_content_type()
            payload = part.get_payload() if part.is_multipart() else None  # then a list
            if ctype == "message/rfc822" and isinstance(payload, list):
                yield from (inner for inner in payload[:1] if isinstance(inner, Message))
            elif ctype in ("text/rfc822-headers", "message/rfc822-headers", "message/rfc822"):
                body = part.get_payload(decode=True)
                text = (body if isinstance(body, bytes) else b"").decode("ascii", "replace")
                yield HeaderParser().parsestr(text, headersonly=True)
    except Exception:  # RecursionError or worse: a bounce we cannot read names no message
        return


def bounced_message_ids(mail: ParsedMail, raw: bytes) -> list[str]:
    """Message-IDs (without <>) of the mail a bounce answers: from the returned copy or its
    headers first, then In-Reply-To and References of the bounce itself."""
    found: list[str] = []
    for headers in _original_headers(raw):
        found += re.findall(r"<([^<>\s]+)>", str(headers.get("message-id", "")))
    found += mail.in_reply_to + mail.references
    return list(dict.fromkeys(found))
