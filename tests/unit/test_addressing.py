"""workers.mail.parse.read_addressing: the header block alone, as ingest reads a whole batch
to take its address locks up front (issue 11 item 6)."""

from __future__ import annotations

from workers.intake.ingest import _subaddress_head
from workers.mail.parse import parse_mail, read_addressing

RAW = (
    b"From: =?utf-8?B?5byg5Lyf?= <ZhangWei@163.com>\r\n"
    b"To: complaints+TS-2026-000123.k3f9x2@example.org, other@example.net\r\n"
    b"Cc: cc@example.net\r\n"
    b"Subject: =?utf-8?B?5Zue5aSN77yaW1RTLTIwMjYtMDAwMTIzXSDlt7Llj5fnkIY=?=\r\n"
    b"\r\n"
    b"From: not-a-header@example.net\r\n"
)


def test_it_reads_what_parse_mail_reads() -> None:
    addressing = read_addressing(RAW)
    mail = parse_mail(RAW)
    assert addressing.sender == mail.from_addr == "zhangwei@163.com"
    assert addressing.recipients == [*mail.to, *mail.cc]
    assert addressing.subject == mail.subject == "回复：[TS-2026-000123] 已受理"
    assert [_subaddress_head(a) for a in addressing.recipients] == ["ts-2026-000123", "", ""]


def test_a_mail_without_headers_reads_as_empty() -> None:
    for raw in (b"", b"\r\n\r\nbody", b"\xff\xfe\x00garbage"):
        addressing = read_addressing(raw)
        assert addressing.sender == "" and addressing.recipients == []
