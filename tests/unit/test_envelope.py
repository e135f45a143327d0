"""The SMTP envelope decision (workers/outbound/envelope.py): issue 11 item 5."""

from __future__ import annotations

import pytest

from workers.outbound.envelope import UnsendableAddress, envelope

US = "complaints@example.org"


def test_ascii_addresses_go_as_they_are() -> None:
    assert envelope(US, "a@qq.com", smtputf8=False) == (US, "a@qq.com", [])
    assert envelope(US, "a@qq.com", smtputf8=True) == (US, "a@qq.com", [])


def test_an_idn_domain_becomes_a_labels_without_any_extension() -> None:
    assert envelope(US, "li@bücher.example", smtputf8=False)[1] == "li@xn--bcher-kva.example"


def test_a_non_ascii_local_part_needs_smtputf8() -> None:
    assert envelope(US, "josé@example.org", smtputf8=True) == (
        US,
        "josé@example.org",
        ["SMTPUTF8"],
    )
    with pytest.raises(UnsendableAddress, match="SMTPUTF8"):
        envelope(US, "josé@example.org", smtputf8=False)
    with pytest.raises(UnsendableAddress, match="SMTPUTF8"):
        envelope(US, "王芳@例子.中国", smtputf8=False)


@pytest.mark.parametrize(
    "bad",
    [
        "a@b.org\r\nRCPT TO:<victim@x.org>",
        "a b@x.org",
        "<a@x.org>",
        "a@x.org@y",
        "nobody",
        "a\x85@x",
    ],
)
def test_what_is_no_single_address_is_refused_before_any_command(bad: str) -> None:
    with pytest.raises(UnsendableAddress):
        envelope(US, bad, smtputf8=True)
