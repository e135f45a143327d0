"""SMTP credentials never cross a network in clear (issue 11 item 17)."""

from __future__ import annotations

import socket

import pytest

from config.settings import SmtpSettings, is_loopback
from workers.outbound.sender import CredentialsInClear, open_smtp


def test_starttls_on_the_submission_port_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOST", "PORT", "STARTTLS", "SSL"):
        monkeypatch.delenv(f"COMPLAINTDESK_SMTP__{name}", raising=False)
    cfg = SmtpSettings()
    assert (cfg.port, cfg.starttls, cfg.ssl) == (587, True, False)
    assert SmtpSettings(host="smtp.example.org", username="u").may_log_in()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("LOCALHOST.", True), ("10.0.0.1", False), ("::ffff:8.8.8.8", False),
     ("smtp.example.org", False), ("localhost.example.org", False), ("128.0.0.1", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_login_in_clear_to_another_machine_is_refused_before_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("connected although the password would go in clear")

    monkeypatch.setattr(socket, "create_connection", no_network)
    cfg = SmtpSettings(host="smtp.example.org", username="u", password="pw", starttls=False)
    with pytest.raises(CredentialsInClear, match="STARTTLS"):
        open_smtp(cfg)


def test_only_tls_or_a_loopback_host_may_take_a_password() -> None:
    assert SmtpSettings(host="smtp.example.org", starttls=False).may_log_in() is False
    assert SmtpSettings(host="127.0.0.1", username="u", starttls=False).may_log_in()
