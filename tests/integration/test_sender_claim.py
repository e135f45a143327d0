"""The sender on PostgreSQL writes the success before SMTP, in the transaction that locks the
row, and commits it after: nobody sees `sent` before the server took the mail, a stop mid-send
leaves the row as the committed IN_FLIGHT mark left it, and a failure takes the success back."""

from __future__ import annotations

import smtplib
from collections.abc import Callable

import pytest

import workers.outbound.sender as sender
from tests.integration import test_sender as plain
from tests.integration.test_sender import queue_row, row
from tests.servers import NO_SUCH_USER, TEMP_FAIL, SmtpSink
from workers.app import App
from workers.outbound.sender import IN_FLIGHT, RESENT, Outgoing, send

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

# The plain sender tests' fixtures: a fresh PostgreSQL database and an SMTP sink with AUTH.
app, auth_sink = plain.app, plain.auth_sink


class WorkerStopped(BaseException):
    """What a SIGTERM or Dramatiq's time limit does to the thread: no `except Exception` stops it."""


def test_worker_stopped_after_the_server_took_the_mail_leaves_the_mark_not_the_success(
    app: App, auth_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbound_id = queue_row(app)
    during: list[dict] = []
    real_deliver: Callable[[App, Outgoing], None] = sender.deliver

    def deliver_then_stop(app_: App, outgoing: Outgoing) -> None:
        real_deliver(app_, outgoing)
        during.append(row(app, outbound_id))  # another connection, while the row is locked
        raise WorkerStopped

    monkeypatch.setattr(sender, "deliver", deliver_then_stop)
    with pytest.raises(WorkerStopped):
        send(app, outbound_id)

    assert len(auth_sink.messages) == 1
    [seen] = during
    assert (seen["status"], seen["last_error"], seen["sent_at"]) == ("queued", IN_FLIGHT, None)
    stopped = row(app, outbound_id)
    assert (stopped["status"], stopped["last_error"], stopped["sent_at"], stopped["attempts"]) == (
        "queued",
        IN_FLIGHT,
        None,
        0,
    )

    monkeypatch.setattr(sender, "deliver", real_deliver)
    assert send(app, outbound_id) == "sent"  # the redelivery
    resent = row(app, outbound_id)
    assert (resent["status"], resent["last_error"], resent["attempts"]) == ("sent", RESENT, 1)
    assert [m.raw for m in auth_sink.messages] == [resent["raw"]] * 2


@pytest.mark.parametrize(
    ("reply", "status", "outcome"),
    [
        (TEMP_FAIL, "queued", smtplib.SMTPResponseException),
        (NO_SUCH_USER, "failed", "failed"),
    ],
)
def test_a_failure_takes_back_the_success_written_before_smtp(
    app: App, auth_sink: SmtpSink, reply: str, status: str, outcome: type[Exception] | str
) -> None:
    outbound_id = queue_row(app)
    auth_sink.fail(reply, stage="RCPT", count=1)

    if isinstance(outcome, str):
        assert send(app, outbound_id) == outcome
    else:
        with pytest.raises(outcome):
            send(app, outbound_id)

    after = row(app, outbound_id)
    assert (after["status"], after["sent_at"], after["attempts"]) == (status, None, 1)
    assert after["last_error"] is not None and reply.split()[0] in after["last_error"]
    assert auth_sink.messages == []


def test_delivery_finished_elsewhere_after_the_mark_is_not_sent_again(
    app: App, auth_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second worker marks the row, and before it locks the row the first one finishes it:
    the lock finds the row no longer queued and reports what the first one did."""
    outbound_id = queue_row(app)
    real_mark = sender.mark_attempt
    finished: list[str] = []

    def mark_then_other_delivery(app_: App, oid: int) -> tuple[str, bool] | None:
        marked = real_mark(app_, oid)
        monkeypatch.setattr(sender, "mark_attempt", real_mark)
        finished.append(send(app_, oid))  # the other worker, start to end
        return marked

    monkeypatch.setattr(sender, "mark_attempt", mark_then_other_delivery)

    assert send(app, outbound_id) == "sent"

    assert finished == ["sent"]
    assert len(auth_sink.messages) == 1
    done = row(app, outbound_id)
    assert (done["status"], done["attempts"]) == ("sent", 1)
    # The other worker marked after this one had: it took that mark for an interrupted attempt,
    # as it must (it cannot tell), and recorded its delivery as a possible second one.
    assert done["last_error"] == RESENT
