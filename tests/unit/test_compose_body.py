"""encode_body: the Content-Transfer-Encoding and body EmailMessage.set_content would give."""

from __future__ import annotations

import base64
import quopri

from workers.mail.compose import encode_body


def test_short_ascii_lines_go_as_7bit() -> None:
    assert encode_body("Dear customer,\r\nyour case is open.") == (
        "7bit",
        "Dear customer,\nyour case is open.\n",
    )


def test_short_chinese_lines_go_as_8bit_utf8_text() -> None:
    cte, body = encode_body("您好：\n您的投诉已受理。")
    assert cte == "8bit"
    assert body == "您好：\n您的投诉已受理。\n"


def test_a_long_chinese_line_goes_as_base64() -> None:
    text = "投诉处理" * 30  # one line of 120 characters, 360 bytes
    cte, body = encode_body(text)
    assert cte == "base64"
    assert max(len(line) for line in body.splitlines()) <= 76
    assert base64.b64decode(body).decode("utf-8") == text + "\r\n"


def test_a_long_ascii_line_goes_as_quoted_printable() -> None:
    text = "word " * 40  # 200 characters: shorter as quoted-printable than as base64
    cte, body = encode_body(text)
    assert cte == "quoted-printable"
    assert max(len(line) for line in body.splitlines()) <= 78
    assert quopri.decodestring(body.encode("ascii")).decode("ascii") == text + "\n"
