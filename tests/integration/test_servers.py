"""The test servers behave like the real ones our code will meet (see tests/servers.py)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import psycopg
import pytest
import redis
import sqlalchemy

from tests.servers import (
    NO_SUCH_USER,
    PG_ADMIN_URL,
    TEMP_FAIL,
    Dovecot,
    Mailbox,
    RedisServer,
    SmtpSink,
    create_pg_database,
    drop_pg_database,
    pg_available,
    require_server,
)

pytestmark = pytest.mark.integration

# CRLF line ends as on the wire (RFC 5322 2.1): IMAP hands the message back in this form.
CHINESE_MAIL = (
    "From: =?UTF-8?B?5byg5LiJ?= <zhangsan@example.cn>\r\n"
    "To: complaints@example.org\r\n"
    "Subject: =?UTF-8?B?5oqV6K+J77ya5a695bim6YCf5bqm5oWi?=\r\n"
    "Message-ID: <test-servers-1@example.cn>\r\n"
    "Date: Mon, 02 Mar 2026 09:30:00 +0800\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "您好：\r\n"
    "我家的宽带从上周起每晚都断线，客服电话一直打不通，请尽快处理。\r\n"
    "张三\r\n"
).encode()


def test_imap_append_and_fetch_is_byte_identical(fresh_mailbox: Mailbox) -> None:
    uid = fresh_mailbox.append(CHINESE_MAIL)
    with fresh_mailbox.client() as imap:
        imap.select_folder("INBOX", readonly=True)
        fetched = imap.fetch([uid], ["BODY.PEEK[]", "FLAGS"])[uid]
    assert fetched[b"BODY[]"] == CHINESE_MAIL
    assert b"\\Seen" not in fetched[b"FLAGS"]  # PEEK leaves the message unread


def test_imap_offers_idle_uidplus_move_and_moves(fresh_mailbox: Mailbox) -> None:
    uid = fresh_mailbox.append(CHINESE_MAIL)
    with fresh_mailbox.client() as imap:
        assert {b"IDLE", b"UIDPLUS", b"MOVE"} <= set(imap.capabilities())
        imap.create_folder("Processed")
        imap.select_folder("INBOX")
        imap.move([uid], "Processed")
        assert imap.search() == []
        imap.select_folder("Processed", readonly=True)
        assert len(imap.search()) == 1


def test_imap_idle_sees_new_mail(dovecot: Dovecot, fresh_mailbox: Mailbox) -> None:
    with fresh_mailbox.client() as imap:
        imap.select_folder("INBOX")
        imap.idle()
        fresh_mailbox.append(CHINESE_MAIL)
        responses = imap.idle_check(timeout=5)
        imap.idle_done()
    assert (1, b"EXISTS") in responses


def test_fresh_mailboxes_are_separate(fresh_mailbox: Mailbox, dovecot: Dovecot) -> None:
    other = dovecot.new_mailbox()
    fresh_mailbox.append(CHINESE_MAIL)
    with other.client() as imap:
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0


def _mail(to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "complaints@example.org"
    message["To"] = to
    message["Subject"] = "[TS-2026-000123] 已受理"
    message.set_content("您的投诉已受理。\n")
    return message


def test_smtp_sink_receives_raw_bytes_after_auth(smtp_sink: SmtpSink) -> None:
    message = _mail("zhangsan@example.cn")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        client.login(smtp_sink.user, smtp_sink.password)
        client.send_message(message)
    (received,) = smtp_sink.wait_for(1, timeout=5)
    assert received.mail_from == "complaints@example.org"
    assert received.rcpt_tos == ["zhangsan@example.cn"]
    assert received.raw == message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    assert smtp_sink.logins == ["mailer"]


def test_smtp_sink_refuses_bad_password(smtp_sink: SmtpSink) -> None:
    with (
        smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client,
        pytest.raises(smtplib.SMTPAuthenticationError) as refused,
    ):
        client.login(smtp_sink.user, "wrong")
    assert refused.value.smtp_code == 535


@pytest.mark.parametrize("reply", [TEMP_FAIL, NO_SUCH_USER])
def test_smtp_sink_failure_mode_at_rcpt(smtp_sink: SmtpSink, reply: str) -> None:
    smtp_sink.fail(reply, stage="RCPT", count=1)
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.send_message(_mail("zhangsan@example.cn"))
        code, text = refused.value.recipients["zhangsan@example.cn"]
        assert f"{code} {text.decode()}" == reply
        client.send_message(_mail("zhangsan@example.cn"))  # count=1: the next one goes through
    assert len(smtp_sink.wait_for(1)) == 1


def test_smtp_sink_failure_at_data_until_reset(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail(TEMP_FAIL, stage="DATA", count=None)
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        for _ in range(2):
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.send_message(_mail("zhangsan@example.cn"))
            assert refused.value.smtp_code == 451
        smtp_sink.reset()
        client.send_message(_mail("zhangsan@example.cn"))
    assert len(smtp_sink.wait_for(1)) == 1


def test_smtp_sink_refuses_one_recipient(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_recipient("gone@example.cn")
    message = _mail("zhangsan@example.cn, gone@example.cn")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        refused = client.send_message(message)
    assert refused == {"gone@example.cn": (550, b"5.1.1 no such user")}
    assert smtp_sink.wait_for(1)[0].rcpt_tos == ["zhangsan@example.cn"]


def test_smtp_sink_wait_for_times_out_with_what_it_has(smtp_sink: SmtpSink) -> None:
    with pytest.raises(TimeoutError, match="got 0 of 1"):
        smtp_sink.wait_for(1, timeout=0.1)


def test_redis_ping_set_get_and_restart_keeps_port(
    redis_server: RedisServer, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.ping()
    client.set("case:TS-2026-000123", "投诉".encode())
    assert client.get("case:TS-2026-000123").decode() == "投诉"

    port = redis_server.port
    redis_server.kill()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    redis_server.restart()
    assert redis_server.port == port
    assert client.ping()  # the same client reconnects to the same URL
    assert client.get("case:TS-2026-000123") is None  # no persistence: a crash loses data
    client.close()


def test_redis_url_is_empty_and_up_after_a_stop(redis_server: RedisServer, redis_url: str) -> None:
    redis_server.stop()
    assert not redis_server.is_up()
    redis_server.start()
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0


def test_pg_database_is_usable(pg_url: str) -> None:
    assert pg_url.startswith("postgresql+psycopg://postgres@127.0.0.1:5432/cdtest_")
    engine = sqlalchemy.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("CREATE TABLE IF NOT EXISTS probe (v text)"))
        conn.execute(sqlalchemy.text("INSERT INTO probe VALUES ('投诉')"))
        assert conn.execute(sqlalchemy.text("SELECT v FROM probe")).scalar_one() == "投诉"
        conn.execute(sqlalchemy.text("DROP TABLE probe"))
    engine.dispose()


def test_pg_create_and_drop_with_open_connection() -> None:
    problem = pg_available()
    if problem is not None:
        require_server("postgresql", problem)
    url = create_pg_database(prefix="cdtest_drop")
    name = sqlalchemy.engine.make_url(url).database
    lingering = psycopg.connect(
        sqlalchemy.engine.make_url(url)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )
    drop_pg_database(url)  # must not hang or fail on the lingering session
    with psycopg.connect(PG_ADMIN_URL) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    assert found is None
    with pytest.raises(psycopg.OperationalError):
        lingering.execute("SELECT 1")
    lingering.close()
