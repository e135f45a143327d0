"""The SMTP envelope of one mail: the addresses and MAIL options a given server can take.

A pure decision, made before any command is sent: an address the server cannot take must fail
that one mail, never a transaction half-way through (smtplib encodes commands as ASCII and
raises UnicodeEncodeError after MAIL FROM, leaving the connection inside a transaction).
"""

from __future__ import annotations

import re

# CR, LF or any other control character, space or angle bracket: never part of an envelope
# address (RFC 5321 s4.1.2), and CR LF would end the command.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f<>\u0080-\u009f\u2028\u2029]")


class UnsendableAddress(ValueError):
    """No SMTP transaction on this server can carry the address: the mail fails for good."""


def envelope(sender: str, recipient: str, smtputf8: bool) -> tuple[str, str, list[str]]:
    """(MAIL FROM address, RCPT TO address, MAIL options) for a server that does or does not
    offer SMTPUTF8.

    ASCII addresses go as they are. A non-ASCII domain becomes its A-labels (RFC 5890), so
    `user@bücher.de` needs no extension. A non-ASCII local part (`josé@example.org`) needs
    SMTPUTF8 (RFC 6531 s3.2); without it the address cannot be sent at all.
    """
    for address in (sender, recipient):
        if _FORBIDDEN.search(address) or address.count("@") != 1:
            raise UnsendableAddress(f"not a single mail address: {address!r}")
    ascii_pair = (_ascii_form(sender), _ascii_form(recipient))
    if ascii_pair[0] is not None and ascii_pair[1] is not None:
        return ascii_pair[0], ascii_pair[1], []
    if smtputf8:
        return sender, recipient, ["SMTPUTF8"]
    wide = recipient if ascii_pair[1] is None else sender
    raise UnsendableAddress(
        f"address {wide!r} is not ASCII and the server does not offer SMTPUTF8 (RFC 6531)"
    )


def _ascii_form(address: str) -> str | None:
    """The address in ASCII (domain as A-labels), or None when its local part is not ASCII."""
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        return None
    if domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return None  # not a valid IDN: only SMTPUTF8 can carry it as written
