"""The poller's connection to the IMAP server: it outlives a server restart, and it polls at
its interval where the server has no IDLE. The running `complaintdesk poller` process against
a private Dovecot of the test's own (stopping the shared one would disturb other tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import private_dovecot
from tests.integration.conftest import Stack, scalar, wait_until
from tests.integration.test_faults import dovecot_without
from tests.mailgen import complaints
from tests.servers import Dovecot

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def own_dovecot() -> Iterator[Dovecot]:
    yield from private_dovecot("cdtest-dovecot-restart-")


@pytest.fixture(scope="module")
def dovecot_without_idle(dovecot: Dovecot) -> Iterator[Dovecot]:
    yield from dovecot_without(dovecot, {b"IDLE"})


def stored(stack: Stack) -> int:
    return scalar(stack.db_url, "SELECT count(*) FROM raw_message")


def test_poller_reconnects_after_the_imap_server_restarts(
    stack: Stack, own_dovecot: Dovecot
) -> None:
    stack.mailbox = own_dovecot.new_mailbox()
    mails = complaints(6, seed=41)
    poller = stack.start_poller()
    for mail in mails[:3]:
        stack.mailbox.append(mail.raw)
    wait_until(lambda: stored(stack) == 3, 60, "the first three mails stored")

    own_dovecot.restart(down_for=2.0)  # the IDLE connection drops; reconnects are refused
    for mail in mails[3:]:
        stack.mailbox.append(mail.raw)
    wait_until(lambda: stored(stack) == 6, 90, "the mail that came after the restart")
    assert poller.alive()
    assert "poll failed" in poller.tail(200)  # it noticed, waited, and came back
    assert scalar(stack.db_url, "SELECT count(DISTINCT sha256) FROM raw_message") == 6


def test_poller_without_idle_polls_at_its_interval(
    stack: Stack, dovecot_without_idle: Dovecot
) -> None:
    stack.mailbox = dovecot_without_idle.new_mailbox()
    with stack.mailbox.client() as imap:
        assert not imap.has_capability("IDLE")
    poller = stack.start_poller()  # poll_interval 1 s in the test stack
    for i, mail in enumerate(complaints(3, seed=42)):
        stack.mailbox.append(mail.raw)
        wait_until(lambda n=i + 1: stored(stack) == n, 30, f"mail {i + 1} found by polling")
    assert poller.alive()
