"""Parse one raw mail into plain data that every later stage reads.

First step of ingest: ``parse_mail(raw)`` -> ``ParsedMail``, which then goes to screening
(``workers.intake.screen``) and correlation. Pure: bytes in, frozen data out, nothing fetched.

mail-parser builds the message tree; we walk its stdlib ``Message`` ourselves for text,
because Chinese clients label charsets loosely: GBK text labelled gb2312, HKSCS labelled big5,
UTF-8 labelled GBK, raw 8-bit headers with no label at all. Every guess is written down in
``charset_notes`` so staff can tell a decoded mail from a guessed one. Bytes become text in
``workers.mail.charsets``.
"""

from __future__ import annotations

import binascii
import logging
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.message import Message
from email.parser import BytesFeedParser
from email.policy import Compat32

import html2text
import nh3
from mailparser.dates import parse_mail_date
from mailparser.exceptions import MailParserRecursionError
from mailparser.utils import get_addresses

from workers.mail.charsets import (
    Charsets,
    codec_for,
    decode_header_value,
    decode_words,
    has_octets,
    one_line,
    resolve_8bit,
    to_bytes,
)
from workers.mail.textnorm import is_traditional

# mail-parser warns on every part type it does not model (delivery reports, rfc822-headers);
# we handle those parts ourselves, so its warnings are noise in the worker log.
logging.getLogger("mailparser").setLevel(logging.ERROR)

# Payloads above this size are base64-decoded without the stdlib's copies (see _decoded).
_LARGE_PAYLOAD = 1024 * 1024
# Bytes fed to the stdlib parser at a time (it reads files in 8 KiB slices).
_FEED_SLICE = 64 * 1024
# MIME nesting we walk. Real clients nest fewer than ten levels; deeper parts are skipped.
MAX_MIME_DEPTH = 32

_MSG_ID = re.compile(r"<([^<>\s]+)>")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)

_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|fwd?|aw|wg|sv|vs|antw|tr|rif|odp|回复|回覆|答复|答覆|转发|轉發|转寄|轉寄)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+",
    re.IGNORECASE,
)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_MIME_TYPES = mimetypes.MimeTypes()  # built-in table only, the same on every machine


class MailParseError(Exception):
    """The mail cannot be used at all; the reason is in str(e)."""


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    content_type: str
    payload: bytes


@dataclass(frozen=True)
class ParsedMail:
    message_id: str | None
    from_addr: str
    from_name: str
    to: list[str]
    cc: list[str]
    reply_to: list[str]
    subject: str
    clean_subject: str
    date: datetime | None
    in_reply_to: list[str]
    references: list[str]
    body_text: str
    body_html: str | None
    attachments: list[ParsedAttachment]
    headers: dict[str, list[str]]
    charset_notes: list[str]
    charset_uncertain: bool
    language: str
    received_hops: int


# --- headers ----------------------------------------------------------------------------


def addresses(value: str) -> list[str]:
    """Lower-cased addr-specs in an address header value; groups and junk are skipped."""
    return [addr.strip().lower() for _, addr in get_addresses(value) if "@" in addr]


def _mailboxes(value: str, charsets: Charsets) -> list[tuple[str, str]]:
    """(decoded display name, lower-cased addr-spec) for each mailbox in a raw header."""
    pairs = get_addresses(resolve_8bit(value, charsets))
    return [
        (one_line(decode_words(name, charsets)), addr.strip().lower())
        for name, addr in pairs
        if "@" in addr
    ]


def _message_ids(value: str) -> list[str]:
    ids = _MSG_ID.findall(value)
    return ids or [token for token in re.split(r"[\s,]+", value) if "@" in token]


def _first_message_id(value: str | None) -> str | None:
    ids = _message_ids(value or "")
    return ids[0] if ids else (value or "").strip().strip("<>") or None


# --- reply prefixes and language ---------------------------------------------------------


def strip_reply_prefixes(subject: str) -> str:
    """Subject without leading reply/forward prefixes (Re:, 回复：, 答复:, 转发：, Fwd:, AW:, ...),
    however many are stacked; tags such as [External] are kept."""
    return _REPLY_PREFIX.sub("", subject, count=1).strip()


def detect_language(text: str) -> str:
    """Language of a text: Chinese when Han characters are at least half of the words (one Han
    character counts as one word), else en; zh-TW when the Chinese is in traditional
    characters, else zh-CN. Quoted lines ('> ') are ignored."""
    own = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))
    han = len(_HAN.findall(own))
    words = len(_LATIN_WORD.findall(own))
    if not han or han < words:
        return "en"
    return "zh-TW" if is_traditional(own) else "zh-CN"


# --- MIME parts --------------------------------------------------------------------------


def leaf_parts(message: Message, max_depth: int = MAX_MIME_DEPTH) -> Iterator[Message]:
    """Non-multipart parts in document order, walked without recursion down to max_depth.
    message/* parts (forwarded mail, delivery status) are leaves: we do not open them."""
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        children = part.get_payload()
        if part.get_content_maintype() == "multipart" and isinstance(children, list):
            if depth < max_depth:
                stack.extend(
                    (child, depth + 1) for child in reversed(children) if isinstance(child, Message)
                )
            continue
        yield part


def _param(part: Message, name: str, header: str, charsets: Charsets) -> str | None:
    """A Content-Type/Disposition parameter, decoded: RFC 2231 (charset'lang'%XX, with
    continuations), RFC 2047 words inside quotes (Outlook, QQ) and raw 8-bit GBK (Foxmail)."""
    raw = next((v for k, v in part.raw_items() if k.lower() == header), None)
    if raw is None:
        return None
    holder = part
    if has_octets(raw):
        holder = Message()
        holder[header] = resolve_8bit(raw, charsets)
    value = holder.get_param(name, header=header)
    if isinstance(value, tuple):  # RFC 2231: (charset, language, octets as latin-1)
        label, _, octets = value
        return charsets.decode(to_bytes(octets), label or "utf-8")
    return decode_words(value, charsets) if isinstance(value, str) else None


def _safe_filename(name: str) -> str:
    """Last path component only: a filename must never name a directory."""
    name = one_line(name).replace("\\", "/").rsplit("/", 1)[-1].strip()
    return "" if name in (".", "..") else name


def _filename(part: Message, charsets: Charsets) -> str:
    for name, header in (("filename", "content-disposition"), ("name", "content-type")):
        value = _param(part, name, header, charsets)
        if value:
            return _safe_filename(value)
    return ""


def _is_body(part: Message, filename: str) -> bool:
    return (
        part.get_content_type() in ("text/plain", "text/html")
        and part.get_content_disposition() != "attachment"
        and not filename
    )


class _AsReceived(Compat32):
    """Write headers back as they were parsed. Compat32 refolds every header through
    email.header.Header, which costs about 1 ms per forwarded mail and alters its bytes."""

    def fold_binary(self, name: str, value: object) -> bytes:
        return f"{name}: {value}{self.linesep}".encode("utf-8", "surrogateescape")


_AS_RECEIVED = _AsReceived()


def _decoded(part: Message) -> bytes:
    """The decoded payload of a leaf part. A large base64 payload is decoded straight from
    the parsed text: get_payload(decode=True) copies it to bytes, splits it into lines and
    joins them again before decoding, four times the part's size at once."""
    text = part.get_payload()
    if (
        isinstance(text, str)
        and len(text) > _LARGE_PAYLOAD
        and text.isascii()
        and part.get("content-transfer-encoding", "").strip().lower() == "base64"
    ):
        try:
            return binascii.a2b_base64(text)
        except binascii.Error:  # bad padding and the like: the stdlib's lenient decoding
            pass
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _payload_bytes(part: Message) -> bytes:
    if not part.is_multipart():
        return _decoded(part)
    payload = part.get_payload()
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, list):  # message/rfc822, message/delivery-status
        try:
            return b"\n".join(
                sub.as_bytes(policy=_AS_RECEIVED) for sub in payload if isinstance(sub, Message)
            )
        except Exception:  # RecursionError on absurd nesting: keep the mail, lose this copy
            return b""
    return to_bytes(payload if isinstance(payload, str) else "")


def _body_label(part: Message, data: bytes) -> str | None:
    label = part.get_content_charset(None)
    if label is None and part.get_content_subtype() == "html":
        meta = _META_CHARSET.search(data[:4096])
        label = meta.group(1).decode("ascii") if meta else None
    return label


def _body_text(part: Message, charsets: Charsets) -> str:
    data = _decoded(part)
    text = charsets.decode(data, _body_label(part, data))
    return text.lstrip("\ufeff").replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")


def _unnamed(index: int, content_type: str) -> str:
    """A name for an attachment sent without one, e.g. part-3.eml."""
    ext = _MIME_TYPES.guess_extension(content_type)
    if ext is None:
        ext = ".txt" if content_type.startswith(("text/", "message/")) else ".bin"
    return f"part-{index}{ext}"


@dataclass
class _Bodies:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)


def _collect(message: Message, charsets: Charsets) -> _Bodies:
    bodies = _Bodies()
    for index, part in enumerate(leaf_parts(message), start=1):
        if part.get_content_maintype() == "multipart":  # no usable boundary: keep any text
            text = charsets.decode(to_bytes(str(part.get_payload())), None).strip()
            bodies.plain.extend([text] if text else [])
            continue
        filename = _filename(part, charsets)
        if _is_body(part, filename):
            kind = bodies.html if part.get_content_subtype() == "html" else bodies.plain
            kind.append(_body_text(part, charsets))
            continue
        content_type = one_line(part.get_content_type())  # a NUL here would reach a column
        bodies.attachments.append(
            ParsedAttachment(
                filename or _unnamed(index, content_type), content_type, _payload_bytes(part)
            )
        )
    return bodies


def _charset_hint(message: Message) -> str | None:
    """The first charset the mail declares for its text: the best bet for raw 8-bit headers."""
    for part in leaf_parts(message):
        codec = codec_for(part.get_content_charset(None))
        if codec and codec != "utf-8" and part.get_content_maintype() == "text":
            return codec
    return None


# --- HTML ----------------------------------------------------------------------------------


def _drop_remote_images(tag: str, attr: str, value: str) -> str | None:
    # Remote images are tracking beacons; a staff viewer must never fetch them.
    return None if tag == "img" and attr in ("src", "srcset") else value


def sanitize_html(html: str) -> str:
    """HTML safe to show staff: nh3's allow-list, no scripts or styles, no image sources."""
    return nh3.clean(
        html,
        clean_content_tags={"script", "style", "title"},
        attribute_filter=_drop_remote_images,
    )


def _cell_gap(parser: html2text.HTML2Text, tag: str, attrs: dict, start: bool) -> bool:
    if tag in ("td", "th") and start:
        parser.o("  ")  # keep table cells apart; html2text would join them
    return False


def html_to_text(html: str) -> str:
    """Readable plain text for an HTML-only mail: no link targets, images as their alt text,
    quotes as '> ' lines, and without the Markdown escapes html2text adds."""
    parser = html2text.HTML2Text()
    parser.body_width = 0
    parser.ignore_links = parser.ignore_emphasis = parser.ignore_tables = True
    parser.images_to_alt = parser.unicode_snob = parser.single_line_break = True
    parser.tag_callback = _cell_gap  # type: ignore[assignment]  # html2text types it as None
    text = parser.handle(html)
    text = re.sub(r"^(\s*\d+)\\\.", r"\1.", text, flags=re.M)
    text = re.sub(r"^(\s*)\\([-+])", r"\1\2", text, flags=re.M)
    text = re.sub(r"[ \t]+$", "", text, flags=re.M)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


# --- the whole mail --------------------------------------------------------------------------


def _header_map(message: Message, charsets: Charsets) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        decoded = decode_header_value(str(value), charsets)
        headers.setdefault(name.strip().lower(), []).append(decoded)
    return headers


def _raw_header(message: Message, name: str) -> str:
    return next((str(v) for k, v in message.raw_items() if k.lower() == name), "")


def _local_date(message: Message) -> datetime | None:
    """Date as sent, with the sender's own offset. mail-parser's RFC 5322 date reader gives
    UTC and the offset in hours apart."""
    result = parse_mail_date(_raw_header(message, "date") or None)
    if result.value is None:
        return None
    date = result.value if result.value.tzinfo else result.value.replace(tzinfo=UTC)
    try:
        return date.astimezone(timezone(timedelta(hours=float(result.timezone))))
    except (TypeError, ValueError, OverflowError):
        return date


def _stdlib_tree(raw: bytes) -> Message:
    """The stdlib tree, fed in slices as mail-parser's own from_file does. Whole bytes
    (message_from_bytes, mail-parser's parse_from_bytes) go through an io.StringIO that holds
    the mail as 4-byte characters: a 25 MiB attachment peaked at 300 MB over the worker."""
    parser = BytesFeedParser()
    view = memoryview(raw)
    for start in range(0, len(view), _FEED_SLICE):
        parser.feed(bytes(view[start : start + _FEED_SLICE]))
    return parser.close()


def _message_tree(raw: bytes) -> Message:
    """The MIME tree. mail-parser's own walk over it (`MailParser(tree)`: defects, decoded
    parts, attachments) was a third of a parse, and nothing here read what it found: we walk
    the tree once ourselves (_collect) and take mail-parser's date and address readers."""
    try:
        return _stdlib_tree(raw)
    except RecursionError as exc:
        raise MailParserRecursionError(f"Message nesting too deep to parse: {exc}") from exc


def _all_mailboxes(message: Message, name: str, charsets: Charsets) -> list[str]:
    values = [str(v) for k, v in message.raw_items() if k.lower() == name]
    return [addr for value in values for _, addr in _mailboxes(value, charsets)]


def _build(message: Message) -> ParsedMail:
    charsets = Charsets(hint=_charset_hint(message))
    bodies = _collect(message, charsets)
    headers = _header_map(message, charsets)
    sender = (_mailboxes(_raw_header(message, "from"), charsets) or [("", "")])[0]
    subject = (headers.get("subject") or [""])[0]
    html = "\n".join(bodies.html) if bodies.html else None
    body_text = "\n".join(bodies.plain) if bodies.plain else html_to_text(html or "")
    return ParsedMail(
        message_id=_first_message_id((headers.get("message-id") or [""])[0] or None),
        from_addr=sender[1],
        from_name=sender[0],
        to=_all_mailboxes(message, "to", charsets),
        cc=_all_mailboxes(message, "cc", charsets),
        reply_to=_all_mailboxes(message, "reply-to", charsets),
        subject=subject,
        clean_subject=strip_reply_prefixes(subject),
        date=_local_date(message),
        in_reply_to=_message_ids(" ".join(headers.get("in-reply-to", []))),
        references=_message_ids(" ".join(headers.get("references", []))),
        body_text=body_text,
        body_html=sanitize_html(html) if html is not None else None,
        attachments=bodies.attachments,
        headers=headers,
        charset_notes=charsets.notes,
        charset_uncertain=charsets.uncertain,
        language=detect_language(f"{subject}\n{body_text[:4000]}"),
        received_hops=len(headers.get("received", [])),
    )


# A header block longer than this is read only this far by sender_address.
_HEADER_BLOCK = 256 * 1024


@dataclass(frozen=True)
class Addressing:
    """Who a mail is from and to, and its subject, read from the header block alone."""

    sender: str
    recipients: list[str]
    subject: str


def read_addressing(raw: bytes) -> Addressing:
    """From's addr-spec as parse_mail reads it, the To and Cc addr-specs and the decoded
    Subject, from the header block alone: cheap enough to run on a whole batch before any
    mail is parsed. Empty where a header is missing or unreadable."""
    head = bytes(raw[:_HEADER_BLOCK])
    end = min((i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0), default=-1)
    parser = BytesFeedParser()
    parser.feed(head if end < 0 else head[: end + 2])
    try:
        message = parser.close()
        charsets = Charsets(hint=None)
        sender = (_mailboxes(_raw_header(message, "from"), charsets) or [("", "")])[0][1]
        recipients = [
            *_all_mailboxes(message, "to", charsets),
            *_all_mailboxes(message, "cc", charsets),
        ]
        subject = decode_header_value(_raw_header(message, "subject"), charsets)
    except Exception:  # a header block parse_mail will refuse, with its own reason
        return Addressing("", [], "")
    return Addressing(sender, recipients[:100], subject[:1000])


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse raw RFC 5322 bytes. Raises only MailParseError, whose text says why."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise MailParseError(f"expected bytes, got {type(raw).__name__}")
    if not bytes(raw).strip():
        raise MailParseError("empty message")
    try:
        return _build(_message_tree(bytes(raw)))
    except MailParseError:
        raise
    except (MailParserRecursionError, RecursionError) as exc:
        raise MailParseError(f"MIME nesting too deep to parse: {exc}") from exc
    except Exception as exc:  # never let one bad mail kill the worker
        raise MailParseError(f"unexpected {type(exc).__name__} while parsing: {exc}") from exc
