"""The legal clock through the real servers, with a controlled clock.

A complaint is delivered to Dovecot, fetched by the poller, ingested into PostgreSQL; nobody
answers it. The scheduler ticks (twice each time: a second scheduler run, a slow worker) at
the moments the rules name, holding its leader lock on the real Redis, and the aiosmtpd sink
shows what the staff receive: two reminders to the owner, then the three escalation tiers,
each to the right address, each exactly once, each with a Reply-To that signs the case and the
staff member.

The clock is controlled with time-machine, so everything that reads it runs in this process:
the poller (`run(once=True)`), and the ingest, clock and sender actors on Dramatiq's in-process
broker. The servers are real; only the broker between our own actors is the in-process one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid, parseaddr
from zoneinfo import ZoneInfo

import dramatiq
import pytest
import time_machine
from dramatiq.brokers.stub import StubBroker

from config.policy_staff import Group, StaffMember
from models.types import utcnow
from tests.actors import actor
from tests.integration.conftest import INTAKE, SECRET, Stack, query
from tests.servers import ReceivedMessage
from workers import wiring
from workers.app import App
from workers.clock.scheduler import Scheduler
from workers.intake.poller import Poller
from workers.mail.tokens import read_reply_address

pytestmark = [pytest.mark.integration]

CN = ZoneInfo("Asia/Shanghai")
CLOCK_SUBJECT = re.compile(r"^\[TS-\d{4}-\d{6}\] (提醒|超期督办)")
T0 = datetime(2026, 10, 12, 9, 0, tzinfo=CN)  # Monday, no holiday for weeks
STAFF = [
    StaffMember(id="li", name="李专员", email="li@staff.example.org", groups=["intake"]),
    StaffMember(id="zhao", name="赵主管", email="zhao@staff.example.org", groups=["managers"]),
    StaffMember(id="qian", name="钱经理", email="qian@staff.example.org", groups=["managers"]),
    StaffMember(id="boss", name="王总", email="boss@staff.example.org", groups=["leadership"]),
]
GROUPS = [
    Group(id="intake", name="客服部", supervisors=["zhao", "qian"]),
    Group(id="managers", name="主管"),
    Group(id="leadership", name="应急领导小组"),
]


@pytest.fixture
def clock_app(stack: Stack) -> Iterator[App]:
    base = stack.app()
    app = App(
        settings=base.settings,
        policy=base.policy.model_copy(update={"staff": STAFF, "groups": GROUPS}),
    )
    wiring.start(app)
    yield app
    wiring.stop()


@pytest.fixture
def drain() -> Iterator[Callable[[], None]]:
    """Run the in-process actors (ingest, clock, sender) until their queues are empty."""
    broker = dramatiq.get_broker()
    assert isinstance(broker, StubBroker), "unset COMPLAINTDESK_BROKER_URL: actors run in-process"
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()

    def run() -> None:
        for _ in range(3):
            for queue in sorted(broker.get_declared_queues()):
                broker.join(queue, fail_fast=True)
        worker.join()

    yield run
    worker.stop()
    broker.flush_all()


def complaint() -> bytes:
    msg = EmailMessage()
    msg["From"] = "王建国 <wang@example.net>"
    msg["To"] = INTAKE
    msg["Subject"] = "宽带连续三天断网，无人处理"
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain="example.net")
    msg.set_content("我家宽带从10月9日起连续三天断网，客服电话一直打不通。请尽快修复并退还费用。")
    return msg.as_bytes()


def parse(message: ReceivedMessage) -> EmailMessage:
    return message_from_bytes(message.raw, policy=default_policy)  # type: ignore[return-value]


def clock_mail(stack: Stack) -> list[ReceivedMessage]:
    """The reminders and escalations the sink got, in order (not routing's notices)."""
    return [m for m in stack.sink.messages if CLOCK_SUBJECT.search(str(parse(m)["Subject"]))]


def staff_mail(stack: Stack) -> list[tuple[str, str]]:
    """(recipient, subject) of every reminder and escalation, in order."""
    return [(m.rcpt_tos[0], str(parse(m)["Subject"]).strip()) for m in clock_mail(stack)]


def test_an_unanswered_case_reminds_then_escalates_tier_by_tier_once_each(
    stack: Stack, clock_app: App, drain: Callable[[], None]
) -> None:
    leader, standby = Scheduler(clock_app), Scheduler(clock_app)

    def tick_at(moment: datetime) -> None:
        traveller.move_to(moment)
        assert leader.run_once() is not None
        assert standby.run_once() is None  # the Redis lock: one scheduler acts
        leader.run_once()
        drain()

    with time_machine.travel(T0, tick=False) as traveller:
        stack.mailbox.append(complaint())
        Poller(clock_app, lambda ids: [actor("ingest_message").send(i) for i in ids]).run(once=True)
        drain()
        (ack,) = [m for m in stack.sink.messages if m.rcpt_tos == ["wang@example.net"]]
        number = str(parse(ack)["Subject"]).strip()[1:15]

        tick_at(T0 + timedelta(hours=11))
        assert staff_mail(stack) == []
        tick_at(T0 + timedelta(hours=12))
        tick_at(T0 + timedelta(hours=19, minutes=12))
        tick_at(T0 + timedelta(hours=24))
        tick_at(T0 + timedelta(hours=48))
        tick_at(T0 + timedelta(hours=72))
        tick_at(T0 + timedelta(days=5))
    leader.lock.release()

    due = "2026年10月13日（星期二）09:00"
    assert staff_mail(stack) == [
        ("li@staff.example.org", f"[{number}] 提醒：「初步答复」将于 {due} 到期（已过 50%）"),
        ("li@staff.example.org", f"[{number}] 提醒：「初步答复」将于 {due} 到期（已过 80%）"),
        (
            "zhao@staff.example.org",
            f"[{number}] 超期督办（第1级）：「初步答复」已于 {due} 到期未办",
        ),
        (
            "qian@staff.example.org",
            f"[{number}] 超期督办（第2级）：「初步答复」已于 {due} 到期未办",
        ),
        (
            "boss@staff.example.org",
            f"[{number}] 超期督办（第3级）：「初步答复」已于 {due} 到期未办",
        ),
    ]
    for message in clock_mail(stack):
        msg = parse(message)
        assert str(msg["Auto-Submitted"]) == "auto-generated"
        token = read_reply_address(parseaddr(str(msg["Reply-To"]))[1], INTAKE, SECRET)
        staff_id = message.rcpt_tos[0].split("@")[0]
        assert token is not None and (token.case_number, token.staff_id) == (number, staff_id)
        assert "wang@example.net" not in msg.get_body(("plain",)).get_content()
    assert query(
        stack.db_url,
        "SELECT kind, state, reminders_sent, escalation_tier FROM deadline ORDER BY id",
    ) == [("first_feedback", "missed", 2, 3), ("one_month", "pending", 0, 0)]
    assert [c["number"] for c in stack.cli_json("cases", "list", "--overdue")] == [number]
