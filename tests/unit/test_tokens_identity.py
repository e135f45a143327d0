"""Reply tokens round-trip and refuse forgeries; mail identity dedupes re-fetches only."""

from __future__ import annotations

from workers.mail.casenumbers import case_tags, format_case_number, tagged_subject
from workers.mail.identity import identify
from workers.mail.tokens import read_reply_address, reply_address

SECRET = "s3cret"
INTAKE = "complaints@example.org"


def test_complainant_token_round_trip() -> None:
    addr = reply_address(INTAKE, SECRET, "TS-2026-000123")
    assert addr.startswith("complaints+TS-2026-000123.") and addr.endswith("@example.org")
    token = read_reply_address(addr, INTAKE, SECRET)
    assert token is not None and token.case_number == "TS-2026-000123" and token.staff_id is None


def test_staff_token_round_trip_and_case_insensitive_address() -> None:
    addr = reply_address(INTAKE, SECRET, "TS-2026-000123", "li")
    token = read_reply_address(addr.upper(), INTAKE, SECRET)
    assert token is not None and token.staff_id == "li"


def test_forged_tokens_are_refused() -> None:
    good = reply_address(INTAKE, SECRET, "TS-2026-000123", "li")
    other_case = good.replace("000123", "000124")
    other_staff = good.replace(".li.", ".zhao.")
    wrong_secret = reply_address(INTAKE, "other", "TS-2026-000123", "li")
    for forged in (
        other_case,
        other_staff,
        wrong_secret,
        "complaints+TS-2026-000123@example.org",
        good.replace("example.org", "evil.example"),
    ):
        assert read_reply_address(forged, INTAKE, SECRET) is None, forged


def test_case_tags_accept_full_width_brackets() -> None:
    assert case_tags("回复：【ts-2026-000007】宽带故障", "TS") == ["TS-2026-000007"]
    assert case_tags("Re: [TS-2026-000123] broadband", "TS") == ["TS-2026-000123"]
    assert case_tags("no tag TS-2026-000123", "TS") == []
    assert format_case_number("TS", 2026, 42) == "TS-2026-000042"
    assert (
        tagged_subject("TS-2026-000001", "[TS-2026-000001] 宽带", "TS") == "[TS-2026-000001] 宽带"
    )


def _mail(mid: str | None, subject: str, hops: str = "") -> bytes:
    head = f"Message-ID: <{mid}>\r\n" if mid else ""
    return (
        f"{hops}{head}From: a@example.com\r\nDate: Mon, 5 Oct 2026 10:00:00 +0800\r\n"
        f"Subject: {subject}\r\n\r\nbody\r\n"
    ).encode()


def test_identity_same_mail_refetched_with_other_received_lines() -> None:
    a = identify(_mail("x@y", "hi", "Received: from a\r\n"))
    b = identify(_mail("x@y", "hi", "Received: from b\r\n"))
    assert a.identity == b.identity and a.sha256 != b.sha256 and a.message_id == "x@y"


def test_identity_reused_message_id_is_a_different_mail() -> None:
    assert identify(_mail("x@y", "hi")).identity != identify(_mail("x@y", "other")).identity


def test_identity_without_message_id_is_the_bytes() -> None:
    assert identify(_mail(None, "hi")).identity == identify(_mail(None, "hi")).identity
    assert identify(_mail(None, "hi")).identity != identify(_mail(None, "hi ")).identity
