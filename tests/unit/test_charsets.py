"""workers.mail.charsets: bytes to text, with the charset a sender declared or, failing that, a
guess that is written down."""

from __future__ import annotations

import base64

import pytest

from workers.mail.charsets import (
    Charsets,
    codec_for,
    decode_bytes,
    decode_header_value,
    decode_words,
    one_line,
    resolve_8bit,
)


def octets(data: bytes) -> str:
    """A header value as the stdlib hands raw 8-bit octets over: surrogate escapes."""
    return data.decode("ascii", "surrogateescape")


def word(data: bytes, charset: str = "utf-8") -> str:
    return f"=?{charset}?B?{base64.b64encode(data).decode('ascii')}?="


def test_decode_bytes_prefers_a_lying_labels_real_charset() -> None:
    assert decode_bytes("宽带".encode("gbk"), "gb2312").text == "宽带"
    assert decode_bytes("堃".encode("gbk"), "gb2312").text == "堃"
    assert decode_bytes("嚟".encode("big5hkscs"), "big5").text == "嚟"
    assert decode_bytes("宽带故障".encode(), "gbk").text == "宽带故障"
    assert decode_bytes(b"plain", "x-no-such-charset").text == "plain"
    unknown = decode_bytes("宽带故障，请尽快处理".encode(), "x-ias-german")
    assert unknown.text == "宽带故障，请尽快处理"
    assert unknown.note == "unknown charset x-ias-german: charset guessed: utf-8"


def test_dangerous_codec_labels_are_not_run() -> None:
    result = decode_bytes(b"\\u5bbd caf\xc3\xa9", "unicode_escape")
    assert result.text == "\\u5bbd café"


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("gb2312", "gb18030"),  # GBK text labelled gb2312
        ("GBK", "gb18030"),
        ('"big5"', "big5hkscs"),  # HKSCS characters labelled big5
        ("iso-8859-1", "cp1252"),  # as WHATWG reads it
        ("utf-8*en", "utf-8"),  # RFC 2231 s5 language suffix
        ("UTF8", "utf-8"),
        ("us-ascii", None),
        ("unknown-8bit", None),
        (None, None),
        ("x-no-such-charset", None),
        ("utf\x008", None),
        ("unicode_escape", None),
        ("rot13", None),  # not a text encoding
    ],
)
def test_codec_for(label: str | None, codec: str | None) -> None:
    assert codec_for(label) == codec


def test_text_cut_mid_character_keeps_what_came_before() -> None:
    result = decode_bytes("宽带".encode()[:4], "utf-8")
    assert result.text == "宽"
    assert result.note == "utf-8 text cut short: incomplete last character dropped"
    assert result.guessed is False


def test_undeclared_bytes_are_guessed_and_said_so() -> None:
    result = decode_bytes("宽带故障，请尽快处理".encode("gbk"), None)
    assert (result.text, result.codec, result.guessed) == ("宽带故障，请尽快处理", "gb18030", True)
    assert result.note == "charset guessed: gb18030"


def test_encoded_words_joined_across_a_split_character() -> None:
    # RFC 2047 s6.2: the space between adjacent encoded words goes, and one multibyte
    # character may be split between them.
    data = "宽带故障".encode()
    charsets = Charsets()
    assert decode_words(f"{word(data[:4])} {word(data[4:])} 投诉", charsets) == "宽带故障 投诉"
    assert charsets.notes == [] and charsets.uncertain is False


def test_text_without_encoded_words_is_left_alone() -> None:
    assert decode_words("宽带 =? not a word", Charsets()) == "宽带 =? not a word"


def test_header_value_unfolded_decoded_and_on_one_line() -> None:
    charsets = Charsets()
    value = f"{word('宽带'.encode('gbk'), 'gb2312')}\r\n {word(b'A')}\r\n\tB\u202e"
    assert decode_header_value(value, charsets) == "宽带A B"
    assert charsets.notes == ["gb2312 read as gb18030"]
    assert charsets.uncertain is False


def test_raw_utf8_header_octets_are_rfc6532_not_a_guess() -> None:
    charsets = Charsets()
    assert resolve_8bit(octets("张三 <z@example.cn>".encode()), charsets) == "张三 <z@example.cn>"
    assert (charsets.notes, charsets.uncertain, charsets.hint) == ([], False, None)


def test_first_chinese_guess_becomes_the_hint_for_the_rest() -> None:
    charsets = Charsets()
    assert (
        resolve_8bit(octets("宽带故障，请尽快处理".encode("gbk")), charsets)
        == "宽带故障，请尽快处理"
    )
    assert (charsets.notes, charsets.uncertain, charsets.hint) == (
        ["charset guessed: gb18030"],
        True,
        "gb18030",
    )
    # Two bytes alone cannot tell GBK from Big5; the hint decides, and the note is not repeated.
    assert charsets.decode("王".encode("gbk"), None) == "王"
    assert charsets.notes == ["charset guessed: gb18030"]


def test_one_line() -> None:
    assert one_line(" 投诉\r\nBcc: x@example.com\x00\t尾\u202eexe.pdf ") == (
        "投诉 Bcc: x@example.com 尾 exe.pdf"
    )
