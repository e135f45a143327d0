"""The intake spine end to end, as deployed: `complaintdesk poller` and a real Dramatiq worker
process (`dramatiq workers.worker`) against Dovecot, Redis, PostgreSQL and an SMTP sink.

What a complainant sees: one acknowledgement per complaint, threaded, in their language, with a
reply address that brings their answer back to the same case. What an operator sees: the CLI's
JSON. A worker killed mid-run loses nothing and sends nothing twice.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import getaddresses, parseaddr

import pytest

from tests.integration.conftest import (
    INTAKE,
    SECRET,
    Stack,
    delivered,
    query,
    scalar,
    wait_until,
)
from tests.mailgen import GeneratedMail, bounce, complaints, out_of_office, reply_to
from tests.servers import ReceivedMessage
from workers.mail.tokens import read_reply_address

# Generous limits: on a loaded CI machine two Python processes boot slowly; idle, each test
# takes well under a minute.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

HAN = re.compile(r"[\u4e00-\u9fff]")
TAG = re.compile(r"^\[(TS-(\d{4})-\d{6})\] ")


def parse(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=default_policy)  # type: ignore[return-value]


def acks_by_complaint(
    received: list[ReceivedMessage], mails: list[GeneratedMail]
) -> dict[str, list[EmailMessage]]:
    """Our mails that answer each complaint (In-Reply-To its Message-ID), by that Message-ID."""
    ids = {f"<{m.message_id}>" for m in mails}
    found: dict[str, list[EmailMessage]] = {}
    for message in received:
        msg = parse(message.raw)
        if str(msg.get("In-Reply-To", "")).strip() in ids:
            found.setdefault(str(msg["In-Reply-To"]).strip()[1:-1], []).append(msg)
    return found


def mail_to_complainants(received: list[ReceivedMessage], mails: list[GeneratedMail]) -> int:
    addresses = {m.from_addr for m in mails}
    return sum(1 for m in received if set(m.rcpt_tos) & addresses)


def wait_idle(stack: Stack, mails: int, timeout: float = 300) -> None:
    """Every stored mail decided and every queued reply sent (or failed)."""

    def idle() -> bool:
        return (
            scalar(stack.db_url, "SELECT count(*) FROM raw_message") >= mails
            and scalar(stack.db_url, "SELECT count(*) FROM raw_message WHERE status = 'received'")
            == 0
            and scalar(stack.db_url, "SELECT count(*) FROM outbound_email WHERE status = 'queued'")
            == 0
        )

    wait_until(idle, timeout, f"{mails} mails ingested and their replies sent", interval=0.5)


def check_acknowledgement(
    msg: EmailMessage,
    mail: GeneratedMail,
    envelope: ReceivedMessage,
) -> str:
    """Everything a complainant's client shows of our acknowledgement; returns the case number."""
    # Python's folder may put a long ASCII subject wholly on a continuation line, and its parser
    # keeps that line's leading space; mail clients show the subject without it.
    subject = str(msg["Subject"]).strip()
    tagged = TAG.match(subject)
    assert tagged, subject
    number, year = tagged.group(1), int(tagged.group(2))
    assert 2025 <= year <= 2100
    assert mail.subject in subject  # the Chinese (or Big5) subject survives intact
    assert f"<{mail.message_id}>" in str(msg["References"]).split()
    assert str(msg["Auto-Submitted"]) == "auto-replied"
    assert parseaddr(str(msg["From"]))[1] == INTAKE
    assert [a for _, a in getaddresses([str(msg["To"])])] == [mail.from_addr]
    assert envelope.rcpt_tos == [mail.from_addr]
    reply_address = parseaddr(str(msg["Reply-To"]))[1]
    assert re.fullmatch(rf"complaints\+{number}\.[a-z2-7]+@example\.org", reply_address, re.I)
    token = read_reply_address(reply_address, INTAKE, SECRET)
    assert token is not None and token.case_number == number
    text = msg.get_body(("plain",)).get_content()
    if mail.language == "zh-CN":
        assert f"案件编号为 {number}" in text
    elif mail.language == "zh-TW":  # Big5 from Taiwan: answered in traditional characters
        assert f"案件編號為 {number}" in text
    else:
        assert f"Your case number is {number}" in text
        assert not HAN.search(text), text
    return number


def test_fifty_complaints_become_fifty_cases_each_acknowledged_once(stack: Stack) -> None:
    mails = complaints(50, seed=2026)
    stack.append_all([m.raw for m in mails])
    stack.start_worker()
    stack.start_poller()

    wait_until(
        lambda: len(acks_by_complaint(stack.sink.messages, mails)) == 50,
        400,
        "50 acknowledgements at the SMTP sink",
    )
    wait_idle(stack, 50)

    received = stack.sink.messages
    acks = acks_by_complaint(received, mails)
    assert all(len(v) == 1 for v in acks.values()), Counter(len(v) for v in acks.values())
    assert mail_to_complainants(received, mails) == 50
    envelopes = {str(parse(r.raw)["Message-ID"]): r for r in received}
    numbers = {}
    for mail in mails:
        (msg,) = acks[mail.message_id]
        numbers[mail.message_id] = check_acknowledgement(
            msg, mail, envelopes[str(msg["Message-ID"])]
        )
    assert len(set(numbers.values())) == 50

    cases = {c["number"]: c for c in stack.cli_json("cases", "list")}
    assert set(cases) == set(numbers.values())
    stored_names = query(
        stack.db_url,
        "SELECT m.message_id, a.filename FROM attachment a "
        "JOIN message m ON m.id = a.message_id ORDER BY a.id",
    )
    assert sorted(stored_names) == sorted(
        (m.message_id, name) for m in mails for name in m.attachments
    )
    for mail in mails:
        case = cases[numbers[mail.message_id]]
        assert (case["complainant"], case["subject"], case["language"]) == (
            mail.from_addr,
            mail.subject,
            mail.language,
        )

    # The complainant of a GBK mail with an attachment answers our acknowledgement; an
    # out-of-office and a bounce come back for two other acknowledgements.
    replier, away, bounced = mails[12], mails[27], mails[0]
    assert replier.flavour == "foxmail-gbk" and replier.attachments
    (replier_ack,), (away_ack,), (bounced_ack,) = (
        acks[m.message_id] for m in (replier, away, bounced)
    )
    answer = reply_to(
        envelopes[str(replier_ack["Message-ID"])].raw,
        replier,
        "补充材料：订单号 2026030188123，快递单号 SF1234567890，请一并核查。",
    )
    auto = out_of_office(away.from_addr, about=str(away_ack["Subject"]))
    dsn = bounce(envelopes[str(bounced_ack["Message-ID"])].raw)
    before = len(stack.sink.messages)
    stack.append_all([answer, auto, dsn])

    wait_idle(stack, 53)
    time.sleep(1)  # a reply queued by mistake would be on its way now

    # The auto-reply and the bounce cause no mail at all, the reply no second acknowledgement.
    # (Staff may be told the complainant wrote; triage may still be telling staff of new cases.)
    later = [parse(r.raw) for r in stack.sink.messages[before:]]
    screened_ids = {str(parse(auto)["Message-ID"]), str(parse(dsn)["Message-ID"])}
    for msg in later:
        recipients = {a for _, a in getaddresses([str(msg["To"])])}
        threads = set(str(msg.get("References", "")).split()) | {str(msg.get("In-Reply-To"))}
        assert not recipients & {m.from_addr for m in mails} - {replier.from_addr}, msg["To"]
        assert "mailer-daemon@mx.mailgen.test" not in recipients
        assert not threads & screened_ids, msg["Subject"]
        assert "投诉已受理登记" not in str(msg["Subject"]), msg["Subject"]
    assert scalar(stack.db_url, 'SELECT count(*) FROM "case"') == 50  # no new case
    by_id = {m["message_id"]: m for m in stack.cli_json("mail", "list")}
    assert (
        by_id[parse(answer)["Message-ID"][1:-1]]["disposition"],
        by_id[parse(answer)["Message-ID"][1:-1]]["case"],
    ) == ("follow_up", numbers[replier.message_id])
    assert by_id[parse(answer)["Message-ID"][1:-1]]["reason"] == "correlated by token"
    assert by_id[parse(auto)["Message-ID"][1:-1]]["disposition"] == "screened"
    assert by_id[parse(dsn)["Message-ID"][1:-1]]["disposition"] == "screened"
    # The bounce is filed against the acknowledgement it returns.
    assert by_id[parse(dsn)["Message-ID"][1:-1]]["case"] == numbers[bounced.message_id]
    assert query(
        stack.db_url,
        "SELECT bounced_at IS NOT NULL FROM outbound_email WHERE message_id = %s",
        str(bounced_ack["Message-ID"])[1:-1],
    ) == [(True,)]

    case = stack.cli_json("case", "show", numbers[replier.message_id])
    incoming = [m for m in case["messages"] if m["direction"] == "in"]
    assert [m["message_id"] for m in incoming] == [
        replier.message_id,
        parse(answer)["Message-ID"][1:-1],
    ]
    assert "SF1234567890" in incoming[1]["text"]
    assert [m.get("kind") for m in case["messages"] if m["direction"] == "out"].count(
        "acknowledgement"
    ) == 1
    assert case["message_count"] == len(case["messages"])
    assert [a["filename"] for a in incoming[0]["attachments"]] == replier.attachments
    big5 = stack.cli_json("case", "show", numbers[away.message_id])
    assert [a["filename"] for a in big5["messages"][0]["attachments"]] == away.attachments
    assert big5["messages"][0]["text"].startswith(away.body.strip()[:20])


def test_worker_killed_mid_run_loses_nothing_and_sends_nothing_twice(stack: Stack) -> None:
    mails = complaints(50, seed=7)
    # A slow SMTP server (0.3 s per DATA, four sender threads: about 4 s for 50 replies) keeps
    # work in flight at the kill; at full speed one worker can finish all 50 before it.
    stack.sink.data_delay = 0.3
    stack.append_all([m.raw for m in mails])
    worker = stack.start_worker()
    stack.start_poller()

    wait_until(
        lambda: len(acks_by_complaint(stack.sink.messages, mails)) >= 5,
        300,
        "the first acknowledgements",
    )
    worker.kill()  # SIGKILL to the master and its worker process: no cleanup, no acks to Redis
    unfinished = scalar(
        stack.db_url,
        "SELECT (SELECT count(*) FROM raw_message WHERE status = 'received')"
        " + (SELECT count(*) FROM outbound_email WHERE status = 'queued')",
    )
    time.sleep(0.5)  # the sink finishes recording a transaction that completed before the kill
    at_kill = len(acks_by_complaint(stack.sink.messages, mails))
    assert at_kill < 50 and unfinished > 0, "the worker finished before it was killed"
    time.sleep(1)
    assert len(acks_by_complaint(stack.sink.messages, mails)) == at_kill  # it is dead

    stack.start_worker()
    wait_until(
        lambda: len(acks_by_complaint(stack.sink.messages, mails)) == 50,
        400,
        "all 50 acknowledgements after the restart",
    )
    wait_idle(stack, 50)
    time.sleep(2)  # a duplicate from a redelivery or the sweeper would arrive now

    received = delivered(stack)  # a resend after the kill mid-SMTP counts once (RFC 1047)
    acks = acks_by_complaint(received, mails)
    assert len(acks) == 50
    assert sum(len(v) for v in acks.values()) == 50, {
        k: len(v) for k, v in acks.items() if len(v) > 1
    }
    assert mail_to_complainants(received, mails) == 50
    cases = stack.cli_json("cases", "list")
    assert sorted(c["complainant"] for c in cases) == sorted(m.from_addr for m in mails)
    assert stack.cli_json("quarantine", "list") == []
