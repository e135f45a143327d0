"""The sender against an SMTP submission server that requires AUTH (aiosmtpd) and PostgreSQL:
the outbox row's bytes go out exactly once; 4xx and outages are retried, 5xx is final."""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from models import OutboundEmail
from models.db import session_scope
from tests.integration.conftest import INTAKE, SECRET, query, restart_sink
from tests.servers import NO_SUCH_USER, TEMP_FAIL, SmtpSink
from workers.app import App
from workers.mail.compose import OutgoingMail, compose, new_message_id
from workers.outbound.sender import (
    IN_FLIGHT,
    RESENT,
    drop_connection,
    mark_attempt,
    send,
    smtp_send,
)

pytestmark = [
    pytest.mark.integration,
    # Plain-text AUTH is what this loopback sink offers on purpose (tests/servers.py).
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

COMPLAINANT = "wangfang@163.com"


@pytest.fixture
def auth_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink(auth_required=True).start()
    yield sink
    sink.stop()


@pytest.fixture
def app(fresh_db: str, auth_sink: SmtpSink, tmp_path: Path) -> Iterator[App]:
    settings = Settings(
        database_url=fresh_db,
        broker_url="stub",
        intake_address=INTAKE,
        secret_key=SECRET,
        attachments_dir=tmp_path / "attachments",
        smtp={
            "host": auth_sink.host,
            "port": auth_sink.port,
            "username": auth_sink.user,
            "password": auth_sink.password,
            "starttls": False,
            "ssl": False,
            "timeout": 5,
        },
    )
    drop_connection()  # the sender keeps one SMTP connection per thread: start without one
    yield App.from_settings(settings)
    drop_connection()


def queue_row(app: App, to: str = COMPLAINANT, number: str = "TS-2026-000042") -> int:
    message_id = new_message_id("example.org")
    raw = compose(
        OutgoingMail(
            from_addr=INTAKE,
            from_name="投诉受理中心 Complaints Desk",
            to_addr=to,
            to_name="王芳",
            subject=f"[{number}] 投诉已受理登记：快递丢件三天无人处理",
            text=f"王芳，您好：\n\n我们已收到您的投诉，案件编号为 {number}。\n",
            html=f"<p>王芳，您好：</p><p>案件编号为 {number}。</p>",
            message_id=message_id,
            reply_to=f"complaints+{number}.abcdefghij@example.org",
            case_number=number,
        )
    )
    with session_scope(app.db_url) as session:
        row = OutboundEmail(
            dedupe_key=f"{number}:acknowledgement:{message_id}",
            kind="acknowledgement",
            to_addr=to,
            subject=f"[{number}] 投诉已受理登记",
            message_id=message_id,
            raw=raw,
        )
        session.add(row)
        session.flush()
        return row.id


def row(app: App, outbound_id: int) -> dict:
    ((status, attempts, last_error, sent_at, raw),) = query(
        app.db_url,
        "SELECT status, attempts, last_error, sent_at, raw FROM outbound_email WHERE id = %s",
        outbound_id,
    )
    return {
        "status": status,
        "attempts": attempts,
        "last_error": last_error,
        "sent_at": sent_at,
        "raw": bytes(raw),
    }


def test_delivers_the_rows_bytes_once_with_auth(app: App, auth_sink: SmtpSink) -> None:
    outbound_id = queue_row(app)

    assert send(app, outbound_id) == "sent"

    stored = row(app, outbound_id)
    assert auth_sink.messages == [(INTAKE, [COMPLAINANT], stored["raw"])]
    assert auth_sink.logins == ["mailer"]
    assert stored["status"] == "sent" and stored["sent_at"] is not None
    assert stored["attempts"] == 1
    # Delivered again by the broker or the sweeper: nothing more goes out.
    assert send(app, outbound_id) == "sent"
    assert len(auth_sink.messages) == 1
    assert row(app, outbound_id)["attempts"] == 1


def test_one_connection_carries_many_mails(app: App, auth_sink: SmtpSink) -> None:
    ids = [queue_row(app, to=f"user{i}@qq.com", number=f"TS-2026-{i:06d}") for i in range(1, 6)]

    assert [send(app, i) for i in ids] == ["sent"] * 5

    assert [m.rcpt_tos for m in auth_sink.messages] == [[f"user{i}@qq.com"] for i in range(1, 6)]
    assert auth_sink.logins == ["mailer"]  # one AUTH: the connection is reused


def test_two_deliveries_of_one_row_at_once_send_one_mail(app: App, auth_sink: SmtpSink) -> None:
    """The broker redelivers (a worker died, the sweeper re-enqueued) while the first delivery
    is still talking to the server: the second must not send the mail again."""
    outbound_id = queue_row(app)
    start = threading.Barrier(2)
    results: list[str] = []

    def deliver() -> None:
        start.wait()
        try:
            results.append(send(app, outbound_id))
        finally:
            drop_connection()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert results == ["sent", "sent"]
    assert len(auth_sink.messages) == 1
    assert row(app, outbound_id)["status"] == "sent"


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_temporary_failure_raises_for_a_retry_and_keeps_the_row(
    app: App, auth_sink: SmtpSink, stage: str
) -> None:
    outbound_id = queue_row(app)
    auth_sink.fail(TEMP_FAIL, stage=stage, count=1)

    with pytest.raises(smtplib.SMTPResponseException) as raised:
        send(app, outbound_id)

    assert raised.value.smtp_code == 451
    waiting = row(app, outbound_id)
    assert waiting["status"] == "queued"
    assert "451" in waiting["last_error"] and "try later" in waiting["last_error"]
    assert auth_sink.messages == []

    assert send(app, outbound_id) == "sent"  # the retry
    assert len(auth_sink.messages) == 1
    assert row(app, outbound_id)["attempts"] == 2
    assert row(app, outbound_id)["last_error"] is None  # a failure we saw is no duplicate risk


def test_attempt_cut_off_after_the_server_took_the_mail_is_resent_and_recorded(
    app: App, auth_sink: SmtpSink
) -> None:
    """The worker dies between the server's 250 and marking the row sent (RFC 1047): the
    mail goes out again rather than being lost, and the row says so."""
    outbound_id = queue_row(app)
    assert mark_attempt(app, outbound_id) == ("queued", False)
    # ... the dead worker's attempt got as far as the server taking the mail:
    smtp_send(app.settings.smtp, INTAKE, COMPLAINANT, row(app, outbound_id)["raw"])
    drop_connection()
    assert row(app, outbound_id)["last_error"] == IN_FLIGHT

    assert send(app, outbound_id) == "sent"  # the redelivery

    resent = row(app, outbound_id)
    assert resent["last_error"] == RESENT
    assert [m.raw for m in auth_sink.messages] == [resent["raw"]] * 2  # same bytes, same Message-ID
    assert send(app, outbound_id) == "sent"
    assert len(auth_sink.messages) == 2


@pytest.mark.parametrize(
    ("stage", "reply"),
    [
        ("RCPT", NO_SUCH_USER),
        ("DATA", "554 5.7.1 message refused as spam"),
    ],
)
def test_permanent_failure_marks_the_row_failed_without_retry(
    app: App, auth_sink: SmtpSink, stage: str, reply: str
) -> None:
    outbound_id = queue_row(app)
    if stage == "RCPT":
        auth_sink.fail_recipient(COMPLAINANT, reply)
    else:
        auth_sink.fail(reply, stage="DATA", count=None)

    assert send(app, outbound_id) == "failed"  # returns: the actor does not raise, no retry

    failed = row(app, outbound_id)
    assert failed["status"] == "failed"
    assert failed["last_error"] == reply  # the server's own words, for the operator
    auth_sink.reset()
    assert send(app, outbound_id) == "failed"
    assert auth_sink.messages == []
    assert row(app, outbound_id)["attempts"] == 1


def test_server_down_raises_then_delivers_once_when_back(app: App, auth_sink: SmtpSink) -> None:
    outbound_id = queue_row(app)
    auth_sink.stop()

    with pytest.raises(OSError):
        send(app, outbound_id)

    assert row(app, outbound_id)["status"] == "queued"
    assert row(app, outbound_id)["last_error"].startswith("ConnectionRefusedError")

    restart_sink(auth_sink)  # the same port again
    assert send(app, outbound_id) == "sent"
    assert len(auth_sink.messages) == 1
    assert send(app, outbound_id) == "sent"
    assert len(auth_sink.messages) == 1


def test_server_restart_between_mails_does_not_lose_one(app: App, auth_sink: SmtpSink) -> None:
    """The pooled connection dies with the server: the next mail opens a new one."""
    first, second = queue_row(app, number="TS-2026-000001"), queue_row(app, number="TS-2026-000002")
    assert send(app, first) == "sent"
    auth_sink.stop()
    restart_sink(auth_sink)

    assert send(app, second) == "sent"

    assert [m.raw for m in auth_sink.messages] == [row(app, first)["raw"], row(app, second)["raw"]]


@pytest.fixture(params=[True, False], ids=["smtputf8", "ascii-only"])
def utf8_case(request: pytest.FixtureRequest, fresh_db: str, tmp_path: Path) -> Iterator[tuple]:
    """A sink that does or does not offer SMTPUTF8 (RFC 6531), and an app sending to it."""
    sink = SmtpSink(smtputf8=request.param).start()
    settings = Settings(
        database_url=fresh_db,
        broker_url="stub",
        intake_address=INTAKE,
        secret_key=SECRET,
        attachments_dir=tmp_path / "attachments",
        smtp={"host": sink.host, "port": sink.port, "starttls": False, "timeout": 5},
    )
    drop_connection()
    yield App.from_settings(settings), sink, request.param
    drop_connection()
    sink.stop()


def test_a_non_ascii_address_never_poisons_the_next_mail(utf8_case: tuple) -> None:
    """Issue 11 item 5: `josé@…` raised UnicodeEncodeError after MAIL FROM; the reused
    connection then answered the next acknowledgement "503 nested MAIL command"."""
    app, sink, offered = utf8_case
    wide = queue_row(app, to="josé@example.org", number="TS-2026-000101")
    idn = queue_row(app, to="li@bücher.example", number="TS-2026-000102")
    plain = queue_row(app, to=COMPLAINANT, number="TS-2026-000103")

    results = [send(app, wide), send(app, idn), send(app, plain)]

    # An IDN domain travels as A-labels either way (RFC 5890); only the local part needs 6531.
    idn_rcpt = "li@xn--bcher-kva.example"
    if offered:
        assert results == ["sent", "sent", "sent"]
        assert [m.rcpt_tos for m in sink.messages] == [
            ["josé@example.org"],
            [idn_rcpt],
            [COMPLAINANT],
        ]
    else:
        assert results == ["failed", "sent", "sent"]
        assert [m.rcpt_tos for m in sink.messages] == [[idn_rcpt], [COMPLAINANT]]
        failed = row(app, wide)
        assert failed["status"] == "failed" and "SMTPUTF8" in failed["last_error"]
        assert failed["attempts"] == 1
    assert row(app, plain)["status"] == "sent"
