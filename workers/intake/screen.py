"""Decide whether a parsed mail must never be answered, and say why.

Second step of ingest, after ``workers.mail.parse``: ``screen_mail(mail)`` returns a verdict for
automatic replies, bounces, list and bulk mail, our own mail coming back, mail loops and mail
without a sender, or None for mail a person wrote to us. The rules are one ordered table of
small named predicates (Mailman's rules/, Discourse's is_auto_generated?): the first hit wins
and its reason is shown to staff. ``bounced_message_ids`` finds which of our mails a bounce
is about, so the sender stage can mark that recipient failed.

A subject is something a person writes too ("Delivery failure: my parcel never arrived"), so a
bounce or out-of-office subject screens a mail only with a second signal that the mail answers
us (``_answers_us``). What a mail carries of ours is a signal no person's client writes: our
Message-ID or our marker header inside a quoted or attached copy is returned mail.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses

from workers.mail.casenumbers import case_tags
from workers.mail.parse import ParsedMail, leaf_parts

# Mailbox names that send delivery reports (RFC 2142 s5: postmaster; MAILER-DAEMON by custom).
_DAEMONS = {"mailer-daemon", "mailerdaemon", "mail-daemon", "postmaster"}
# Subjects of delivery reports from Postfix, Exim, Sendmail, Exchange, Gmail, QQ and 163
# (only ever a second signal: people write these words too).
_BOUNCE_SUBJECT = re.compile(
    r"^(?:undeliverable|undelivered mail|undeliverable mail|delivery status notification"
    r"|delivery failure|mail delivery failed|returned mail|failure notice"
    r"|delivery has failed|(?:mail|message) (?:could not|cannot|can't) be delivered"
    r"|(?:mail|message) not delivered|delivery notification|returned to sender"
    r"|系统退信|(?:退信|无法送达|未送达|無法傳遞)\s*(?:[:：]|$))",
    re.IGNORECASE,
)
# Local parts that machines send from; a person's mailbox is never called this.
_MACHINE_SENDER = re.compile(
    r"(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|auto[-_.]?(?:reply|responder|respond)"
    r"|bounces?|mailer|mail[-_.]?delivery(?:[-_.]?(?:sub)?system)?)(?:[-+.].*)?",
    re.IGNORECASE,
)
# What a machine writes at the top of its notice, about mail (not parcels) or in the first
# person of an absent mailbox owner; a second signal only, read in the first _BODY_HEAD chars.
_MACHINE_BODY = re.compile(
    r"您发送的邮件|您發送的郵件|邮件无法送达|郵件無法送達|收件人邮箱|收件人信箱|邮箱不存在"
    r"|could not be delivered to|delivery to the following recipient|user unknown"
    r"|mailbox (?:unavailable|full|not found|does not exist)|recipient address rejected"
    r"|我(?:目前|现在|現在)?(?:不在办公室|不在辦公室|正在休假|休假中)"
    r"|i am (?:currently )?out of (?:the )?office|i'm (?:currently )?out of (?:the )?office",
    re.IGNORECASE,
)
_BODY_HEAD = 500
# Reading bounds: returned copies put the headers first; a copy's tail adds nothing.
_SCAN_CHARS = 64 * 1024
_SCAN_PARTS = 20
# Parts that hold a copy of another mail or its headers (RFC 3462, RFC 6532 s3.5).
_COPY_TYPES = frozenset(
    {
        "message/rfc822",
        "message/global",
        "text/rfc822-headers",
        "message/rfc822-headers",
        "message/global-headers",
    }
)
_ADDRESS_SEPARATORS = re.compile(r"[\s<>,;\"()]+")
_OUR_MARKER = re.compile(r"^[ \t>]*X-Complaintdesk-Case:", re.IGNORECASE | re.MULTILINE)
# The left part of a Message-ID from email.utils.make_msgid(idstring="cd"), as
# workers.mail.compose.new_message_id writes ours: time.pid.random.cd
_OUR_ID_LEFT = re.compile(r"(?<![\w.])\d{1,30}\.\d{1,12}\.\d{1,40}\.cd\Z")
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
    case_prefix: str = "TS"

    @property
    def own_domains(self) -> frozenset[str]:
        return frozenset(a.rpartition("@")[2] for a in self.own_addresses)


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


@functools.lru_cache(maxsize=4)
def _case_number(prefix: str) -> re.Pattern[str]:
    """Our case number, tagged or bare ("案件编号为 TS-2026-000123" in a quoted body)."""
    return re.compile(rf"(?<![\w-]){re.escape(prefix)}-\d{{4}}-\d{{6}}(?!\d)", re.IGNORECASE)


def is_our_message_id(message_id: str, ctx: _Context) -> bool:
    """A Message-ID our outbox wrote (workers.mail.compose.new_message_id)."""
    left, _, domain = message_id.strip().strip("<>").lower().rpartition("@")
    return domain in ctx.own_domains and _OUR_ID_LEFT.fullmatch(left[:90]) is not None


def _our_ids_in(text: str, ctx: _Context) -> Iterator[str]:
    """Our Message-IDs anywhere in `text`: a literal find per domain, then a bounded look
    back (a regex search over a long run of digits would be quadratic)."""
    lowered = text.lower()
    for domain in ctx.own_domains:
        needle, start = f".cd@{domain}", 0
        while (at := lowered.find(needle, start)) >= 0:
            left = _OUR_ID_LEFT.search(lowered[max(0, at - 90) : at + 3])
            if left:
                yield f"{left.group(0)}@{domain}"
            start = at + len(needle)


def _copies(mail: ParsedMail) -> Iterator[tuple[str, bool]]:
    """The text of what the mail quotes or attaches, each bounded, and whether it is an
    attached copy: the body (quoted copies live there, and text/rfc822-headers parts without
    a name are read as body) and the parts holding another mail."""
    yield mail.body_text[:_SCAN_CHARS], False
    copies = [a for a in mail.attachments if a.content_type.lower() in _COPY_TYPES]
    for attachment in copies[:_SCAN_PARTS]:
        yield attachment.payload[:_SCAN_CHARS].decode("utf-8", "replace"), True


def _from_us(headers_text: str, ctx: _Context) -> str | None:
    """Our address in the From of an attached copy (a quoted From is what people's clients
    write above a quote, so only attached copies count)."""
    own = {_mailbox_key(address) for address in ctx.own_addresses}
    try:
        sender = HeaderParser().parsestr(headers_text, headersonly=True).get_all("from") or []
        found = [addr for _, addr in getaddresses([str(v) for v in sender[:5]])]
    except Exception:  # a mangled copy: no sender to read
        return None
    return next((addr for addr in found if addr and _mailbox_key(addr) in own), None)


def _carries_our_mail(mail: ParsedMail, ctx: _Context) -> str | None:
    """Why the mail carries a copy of one of ours, or None."""
    for text, attached in _copies(mail):
        for message_id in _our_ids_in(text, ctx):
            return f"carries our Message-ID <{_shown(message_id)}>"
        if _OUR_MARKER.search(text):
            return "carries our X-Complaintdesk-Case header"
        if attached and (sender := _from_us(text, ctx)):
            return f"carries a copy of our mail from {_shown(sender)}"
    return None


def _answers_us(mail: ParsedMail, ctx: _Context, subject_match: re.Match[str]) -> str | None:
    """The second signal a bounce or out-of-office subject needs: why this mail answers our
    own mail or comes from a machine, or None (then a person wrote the subject)."""
    for message_id in [*mail.in_reply_to, *mail.references][-50:]:
        if is_our_message_id(message_id, ctx):
            return "answers our own mail"
    rest = mail.subject[subject_match.end() :].lstrip(" \t:：-–—")[:200]
    if case_tags(rest[:40], ctx.case_prefix) and rest[:1] in "[【［":
        return "answers our case tag"
    local = mail.from_addr.rpartition("@")[0]
    if _MACHINE_SENDER.fullmatch(local[:64]):
        return f"sent by {mail.from_addr[:80]}"
    if _case_number(ctx.case_prefix).search(mail.body_text[:_SCAN_CHARS]):
        return "quotes our case number"
    if found := _MACHINE_BODY.search(mail.body_text[:_BODY_HEAD]):
        return f"its text reads like a machine's notice ({found.group(0)})"
    return None


def own_mail(mail: ParsedMail, ctx: _Context) -> ScreenVerdict | None:
    """Mail we sent ourselves came back: our marker header, or From one of our addresses."""
    case = _first(mail, "x-complaintdesk-case")
    if case is not None:
        return ScreenVerdict("own_mail", f"X-Complaintdesk-Case: {_shown(case)} (our own mail)")
    own = {_mailbox_key(address) for address in ctx.own_addresses}
    if mail.from_addr and _mailbox_key(mail.from_addr) in own:
        return ScreenVerdict("own_mail", f"From is our own address {mail.from_addr}")
    if mail.message_id and is_our_message_id(mail.message_id, ctx):
        # Our mail with its headers stripped or rewritten on the way back.
        return ScreenVerdict("own_mail", f"Message-ID <{_shown(mail.message_id)}> is ours")
    return None


def loop(mail: ParsedMail, ctx: _Context) -> ScreenVerdict | None:
    """RFC 5321 s6.3: counting Received fields is the accepted way to spot a mail loop; an
    X-Loop naming us (the convention of procmail, Request Tracker and list servers) is a mail
    that has been through us already."""
    if mail.received_hops > ctx.max_received_hops:
        return ScreenVerdict(
            "loop",
            f"{mail.received_hops} Received headers, more than {ctx.max_received_hops} "
            "(mail loop, RFC 5321 s6.3)",
        )
    own = {_mailbox_key(address) for address in ctx.own_addresses}
    for value in mail.headers.get("x-loop", [])[:20]:
        # Split, not a search for local@domain: that backtracks on a long run without "@".
        for token in _ADDRESS_SEPARATORS.split(value[:1000]):
            if "@" in token and _mailbox_key(token) in own:
                return ScreenVerdict("loop", f"X-Loop: {_shown(value)} (names us)")
    return None


def returned_mail(mail: ParsedMail, ctx: _Context) -> ScreenVerdict | None:
    """Our own mail returned inside another: a bounce without DSN parts that quotes or
    attaches what we sent (its Message-ID or our marker header), whatever its sender says."""
    carried = _carries_our_mail(mail, ctx)
    if carried is not None:
        return ScreenVerdict("bounce", f"returned mail: {carried}")
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
    failed = _first(mail, "x-failed-recipients")
    if failed is not None:  # Exim and others add it to their delivery reports only
        return ScreenVerdict("bounce", f"X-Failed-Recipients: {_shown(failed)} (delivery report)")
    if any(a.content_type.lower() == "message/delivery-status" for a in mail.attachments):
        return ScreenVerdict("bounce", "a message/delivery-status part (RFC 3464)")
    if (match := _BOUNCE_SUBJECT.match(mail.subject)) and (why := _answers_us(mail, ctx, match)):
        return ScreenVerdict(
            "bounce", f"Subject of a delivery report: {_shown(mail.subject)}; {why}"
        )
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
    match = _AUTO_REPLY_SUBJECT.match(mail.subject)
    if match and (why := _answers_us(mail, ctx, match)):
        return ScreenVerdict("auto_reply", f"Out-of-office subject: {_shown(mail.subject)}; {why}")
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
RULES: tuple[Rule, ...] = (
    own_mail,
    loop,
    bounce,
    returned_mail,
    auto_reply,
    mailing_list,
    no_sender,
)


def screen_mail(
    mail: ParsedMail,
    *,
    own_addresses: frozenset[str],
    max_received_hops: int = 50,
    case_prefix: str = "TS",
) -> ScreenVerdict | None:
    """The first rule that says this mail must not be answered, or None for a person's mail."""
    ctx = _Context(frozenset(a.lower() for a in own_addresses), max_received_hops, case_prefix)
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


def returned_message_ids(mail: ParsedMail, own_addresses: frozenset[str]) -> list[str]:
    """Our Message-IDs inside the copies a returned mail quotes or attaches."""
    ctx = _Context(frozenset(a.lower() for a in own_addresses), 0)
    return list(dict.fromkeys(i for text, _ in _copies(mail) for i in _our_ids_in(text, ctx)))


# How auto-responders word their answers, in their subject or first lines: a loop breaker's
# signal only (a person may quote such a line; the case is opened all the same).
_AUTOMATIC_ANSWER = re.compile(
    r"automatic(?:ally generated)? (?:answer|reply|response|message|notification)"
    r"|auto[- ]?(?:reply|response|generated)|this is an automated|do not reply"
    r"|we (?:have )?received your (?:message|mail|e-?mail)"
    r"|thank you for your (?:message|mail|e-?mail)"
    r"|自动回复|自動回覆|自动答复|自動答覆|系统自动|系統自動|自动发送|自動發送|请勿(?:直接)?回复"
    r"|請勿(?:直接)?回覆|已收到您的(?:邮件|来信)|已收到您的(?:郵件|來信)|感谢您的来信|感謝您的來信",
    re.IGNORECASE,
)


def answers_our_mail(mail: ParsedMail, own_addresses: frozenset[str], case_prefix: str) -> bool:
    """Whether a mail answers one of ours or reads as a machine's answer: it names our
    Message-ID, carries our case tag in its subject or text, or is worded as auto-responders
    word theirs (a loop breaker's signal, never a reason to screen by itself)."""
    ctx = _Context(frozenset(a.lower() for a in own_addresses), 0, case_prefix)
    return (
        any(is_our_message_id(i, ctx) for i in [*mail.in_reply_to, *mail.references][-50:])
        or bool(case_tags(mail.subject, case_prefix))
        or bool(case_tags(mail.body_text[:_SCAN_CHARS], case_prefix))
        or _AUTOMATIC_ANSWER.search(mail.subject[:300]) is not None
        or _AUTOMATIC_ANSWER.search(mail.body_text[:_BODY_HEAD]) is not None
    )
