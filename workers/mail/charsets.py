"""Bytes to text for one mail: body parts and header octets in their declared charsets, and
guesses, written down, where the label is absent or wrong.

Used by ``workers.mail.parse``. Chinese clients label charsets loosely: GBK text labelled
gb2312, HKSCS labelled big5, UTF-8 labelled GBK, raw 8-bit headers with no label at all. Every
guess becomes a note (``Charsets.notes``, stored as ``charset_notes``) so staff can tell a
decoded mail from a guessed one.
"""

from __future__ import annotations

import codecs
import functools
import re
from dataclasses import dataclass, field
from email.header import decode_header

import charset_normalizer

# Labels whose text is really a superset: Chinese clients send GBK (and GB18030) text labelled
# gb2312, and Hong Kong clients send HKSCS characters labelled big5 (WHATWG Encoding maps these
# labels the same way).
_GB_LABELS = "gb2312 gbk x-gbk cp936 ms936 windows-936 euc-cn x-euc-cn csgb2312 gb_2312 gb_2312-80"
_BIG5_LABELS = "big5 big-5 x-big5 cn-big5 csbig5 big5-hkscs cp950 ms950 windows-950 x-x-big5"
_SUPERSET_CODECS = {
    **dict.fromkeys(
        f"{_GB_LABELS} gb2312-80 csgb231280 iso-ir-58 chinese gb18030".split(), "gb18030"
    ),
    **dict.fromkeys(f"{_BIG5_LABELS} big5hkscs".split(), "big5hkscs"),
}
# Labels that say nothing about 8-bit bytes (RFC 2045 s5.2 defaults to us-ascii).
_NO_CHARSET = {"", "us-ascii", "ascii", "unknown-8bit", "x-unknown", "unknown", "default"}
# Python text codecs that must never run on sender data.
_REFUSED_CODECS = {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined"}
# Encodings whose bytes are all ASCII, so the ASCII shortcut would skip their decoding.
_SEVEN_BIT_CODECS = {"hz", "utf-7", "iso2022_kr"} | {
    f"iso2022_jp{suffix}" for suffix in ("", "_1", "_2", "_2004", "_3", "_ext")
}
# How codecs report a multibyte character cut off at the end of the bytes.
_CUT_SHORT_REASONS = {"unexpected end of data", "incomplete multibyte sequence"}
# Candidates when nothing is declared: our complainants write mainland or Taiwan/HK Chinese.
_GUESS_CODECS = ["gb18030", "big5hkscs", "cp1252"]

# RFC 2047 s2: encoded words, and runs of them separated only by whitespace (s6.2: that
# whitespace is dropped, and one multibyte character may be split across the words).
_ENCODED_WORD = r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?="
_ENCODED_RUN = re.compile(rf"{_ENCODED_WORD}(?:\s+{_ENCODED_WORD})*")
_WORD = re.compile(_ENCODED_WORD)
_FOLD = re.compile(r"\r?\n(?=[ \t])")  # RFC 5322 s2.2.3 unfolding
# Control characters, line separators and bidi overrides (which can disguise "fdp.exe" as
# "exe.pdf" in a filename) never reach a one-line field.
_CONTROL_RUN = re.compile("[\x01-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")


@dataclass(frozen=True)
class Decoded:
    text: str
    codec: str | None = None  # the codec that produced text; None for plain ASCII
    note: str | None = None
    guessed: bool = False


@functools.lru_cache(maxsize=256)
def codec_for(label: str | None) -> str | None:
    """Python codec for a MIME charset label; None when the label tells us nothing usable."""
    name = (label or "").strip().strip("\"'").lower().split("*", 1)[0]  # RFC 2231 s5 *lang
    if name in _NO_CHARSET:
        return None
    if name in _SUPERSET_CODECS:
        return _SUPERSET_CODECS[name]
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # unknown, or a NUL in the name
        return None
    if info.name in _REFUSED_CODECS or not getattr(info, "_is_text_encoding", True):
        return None
    return "cp1252" if info.name == "iso8859-1" else info.name  # WHATWG reads latin1 as cp1252


def _strict(data: bytes, codec: str) -> str | None:
    try:
        text = data.decode(codec)
        text.encode("utf-8")  # some codecs let lone surrogates through
    except (UnicodeError, LookupError):
        return None
    return text


def _cut_short(data: bytes, codec: str) -> str | None:
    """Text of bytes whose only fault is an incomplete last character (a client cut an
    encoded word or a line mid-character); None for any other fault."""
    try:
        data.decode(codec)
    except UnicodeDecodeError as exc:
        if exc.end == len(data) and exc.reason in _CUT_SHORT_REASONS:
            return _strict(data[: exc.start], codec)
    except LookupError:
        pass
    return None


def _guess(data: bytes, hint: str | None) -> tuple[str, str, bool]:
    """Text, codec, clean? for undeclared bytes: utf-8, then the mail's own charset, then
    charset-normalizer over the Chinese candidates."""
    for codec in ("utf-8", hint):
        text = _strict(data, codec) if codec else None
        if text is not None and codec:
            return text, codec, True
    best = charset_normalizer.from_bytes(data, cp_isolation=_GUESS_CODECS).best()
    if best is not None:
        return str(best), best.encoding, True
    for codec in ("gb18030", "big5hkscs"):
        text = _strict(data, codec)
        if text is not None:
            return text, codec, True
    return data.decode("gb18030", "replace"), "gb18030", False


def decode_bytes(data: bytes, label: str | None, hint: str | None = None) -> Decoded:
    """Decode bytes declared as ``label``; guess and say so when the label is absent or wrong.
    ``hint`` is the charset the same mail uses elsewhere, the best guess for short strings."""
    codec = codec_for(label)
    if data.isascii() and codec not in _SEVEN_BIT_CODECS:
        return Decoded(data.decode("ascii"))
    shown = one_line((label or "").strip().strip("\"'").lower())  # the note is stored as text
    if codec is not None:
        if codec not in _SEVEN_BIT_CODECS and not codec.startswith("utf"):
            # Valid multibyte UTF-8 is vanishingly rare in GBK/Big5/latin text: the label lied.
            text = _strict(data, "utf-8")
            if text is not None:
                return Decoded(text, "utf-8", f"{shown} label but utf-8 bytes: read as utf-8", True)
        text = _strict(data, codec)
        if text is not None:
            upgraded = codec in ("gb18030", "big5hkscs") and shown not in ("gb18030", codec)
            return Decoded(text, codec, f"{shown} read as {codec}" if upgraded else None)
        text = _cut_short(data, codec)
        if text is not None:
            return Decoded(
                text, codec, f"{shown} text cut short: incomplete last character dropped"
            )
    text, guessed, clean = _guess(data, hint)
    if not clean:
        why = "undecodable bytes replaced: "
    elif codec is not None:
        why = f"{shown} label does not fit the bytes: "
    elif shown not in _NO_CHARSET:
        why = f"unknown charset {shown}: "
    else:
        why = ""
    return Decoded(text, guessed, f"{why}charset guessed: {guessed}", True)


@dataclass
class Charsets:
    """Decodes the byte strings of one mail and collects what it had to guess. The first
    Chinese charset guessed (bodies are decoded first, being longest) becomes the hint for
    the rest: a four-byte name alone cannot tell GBK from Big5."""

    hint: str | None = None
    notes: list[str] = field(default_factory=list)
    uncertain: bool = False

    def decode(self, data: bytes, label: str | None) -> str:
        result = decode_bytes(data, label, self.hint)
        if result.note and result.note not in self.notes:
            self.notes.append(result.note)
        if result.guessed:
            self.uncertain = True
            if self.hint is None and result.codec in ("gb18030", "big5hkscs"):
                self.hint = result.codec
        return result.text


# --- headers ----------------------------------------------------------------------------


def to_bytes(text: str) -> bytes:
    """Bytes behind a stdlib header string (8-bit octets arrive as surrogate escapes)."""
    try:
        return text.encode("latin-1", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def has_octets(text: str) -> bool:
    """True when a stdlib header string carries raw 8-bit octets (as surrogate escapes)."""
    return not text.isascii() and re.search("[\udc80-\udcff]", text) is not None


def resolve_8bit(value: str, charsets: Charsets) -> str:
    """Unfold a raw header and turn raw 8-bit octets (RFC 6532 UTF-8, or GBK from old
    clients) into text; encoded words stay encoded."""
    value = _FOLD.sub("", value)
    if has_octets(value):
        octets = to_bytes(value)
        # RFC 6532 makes UTF-8 the charset of raw header octets: no guess to note.
        value = _strict(octets, "utf-8") or charsets.decode(octets, None)
    return value


def decode_words(text: str, charsets: Charsets) -> str:
    """Decode RFC 2047 encoded words, with our charset mapping, wherever they stand."""

    def run(match: re.Match[str]) -> str:
        # Word by word, then adjacent words of one charset joined: decode_header on a whole
        # run is quadratic (list.pop(0)), and a 1 MiB subject of words took 10 s.
        chunks: list[tuple[list[bytes], str | None]] = []
        try:
            for word in _WORD.finditer(match.group(0)):
                for data, label in decode_header(word.group(0)):
                    data = data if isinstance(data, bytes) else data.encode("utf-8")
                    if chunks and chunks[-1][1] == label:
                        chunks[-1][0].append(data)
                    else:
                        chunks.append(([data], label))
        except Exception:  # malformed base64/charset: show the word as sent
            return match.group(0)
        return "".join(charsets.decode(b"".join(parts), label) for parts, label in chunks)

    return _ENCODED_RUN.sub(run, text) if "=?" in text else text


def one_line(text: str) -> str:
    """Header text safe to show on one line: NUL removed, other control characters (CR, LF,
    tab, C1, line separators, bidi overrides) become one space."""
    return _CONTROL_RUN.sub(" ", text.replace("\x00", "")).strip()


def decode_header_value(value: str, charsets: Charsets) -> str:
    return one_line(decode_words(resolve_8bit(value, charsets), charsets))
