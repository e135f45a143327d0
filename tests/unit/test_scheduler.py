"""The legal clock end to end on SQLite and the StubBroker, with a controlled clock.

A complaint is ingested on Monday 12 October 2026 09:00 (Beijing); the scheduler ticks at chosen
moments and the outbox folder shows what staff and the complainant receive: reminders at 50 %
and 80 %, the escalation tiers, the one-month rule, the end of the information wait and of the
review window. Every tick runs twice: nothing is ever mailed twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select
from typer.testing import CliRunner

from config.policy_staff import Group, StaffMember
from models import Case, Deadline, Event
from models.db import session_scope
from models.types import utcnow
from tests.actors import actor
from tests.unit.casemail import mails_to, staff_reply, text_of
from workers import wiring
from workers.app import App
from workers.casework.lifecycle import apply_trigger
from workers.casework.transitions import Actor, Trigger
from workers.clock import deadlines
from workers.clock.scheduler import Scheduler, tick
from workers.intake.raw_store import store_raw
from workers.ops.cli import app as cli

CN = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 10, 12, 9, 0, tzinfo=CN)  # a Monday; no holiday for weeks

STAFF = [
    StaffMember(id="li", name="李专员", email="li@example.org", groups=["intake"]),
    StaffMember(id="wu", name="吴专员", email="wu@example.org", groups=["intake"], on_duty=False),
    StaffMember(id="sun", name="孙工", email="sun@example.org", groups=["tech"]),
    StaffMember(id="zhao", name="赵主管", email="zhao@example.org", groups=["managers"]),
    StaffMember(id="qian", name="钱经理", email="qian@example.org", groups=["managers"]),
    StaffMember(id="boss", name="王总", email="boss@example.org", groups=["leadership"]),
]
GROUPS = [
    Group(id="intake", name="客服部", supervisors=["zhao", "qian"]),
    Group(id="tech", name="技术支持部", supervisors=["zhao"]),
    Group(id="managers", name="主管"),
    Group(id="leadership", name="应急领导小组"),
]


@pytest.fixture
def clock_app(app: App) -> Iterator[App]:
    staffed = App(
        settings=app.settings,
        policy=app.policy.model_copy(update={"staff": STAFF, "groups": GROUPS}),
    )
    wiring.start(staffed)
    yield staffed
    wiring.start(app)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def complaint(subject: str = "宽带连续三天断网") -> bytes:
    msg = EmailMessage()
    msg["From"] = "王建国 <wang@example.net>"
    msg["To"] = "complaints@example.org"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain="example.net")
    msg.set_content(
        "我家宽带从10月9日起连续三天断网，客服电话一直打不通，要求尽快修复并退还这几天的费用。"
    )
    return msg.as_bytes()


def open_case(app: App, drain, group: str | None = "intake", assignee: str | None = None) -> str:
    """Ingest one complaint (now); the owner is set as routing would. Its case number."""
    with session_scope(app.db_url) as s:
        raw = store_raw(s, complaint(), "test")
        assert raw is not None
        raw_id = raw.id
    actor("ingest_message").send(raw_id)
    drain()
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).order_by(Case.id.desc())).scalars().first()
        case.assigned_group, case.assignee = group, assignee
        return case.number


def pull(app: App, number: str, trigger: Trigger, actor: Actor = Actor.STAFF) -> None:
    """What the lifecycle does on a staff command or a complainant's reply, now."""
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        apply_trigger(s, app, case, trigger, actor, by="test", at=utcnow())
        if trigger == Trigger.RESOLVE:  # #resolve queues the result mail with the step
            deadlines.on_complainant_notified(s, app, case, "result", utcnow())


def tick_twice(app: App, drain) -> int:
    """Two ticks before any actor runs (two scheduler runs, a slow worker), then the rest."""
    first = tick(app, utcnow())
    tick(app, utcnow())
    drain()
    tick(app, utcnow())
    drain()
    return len(first.deadline_ids)


def mails(app: App, kind: str) -> list:
    assert app.settings.outbox_dir is not None
    paths = sorted(app.settings.outbox_dir.glob(f"*-{kind}.eml"))
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in paths]


def to(messages: list) -> list[str]:
    return [m["To"].addresses[0].addr_spec for m in messages]


def text(message) -> str:
    return message.get_body(("plain",)).get_content()


def rows(app: App, number: str) -> dict[str, Deadline]:
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        found = s.execute(
            select(Deadline).where(Deadline.case_id == case.id).order_by(Deadline.id)
        ).scalars()
        return {f"{d.kind}#{d.occasion}": d for d in found}


def overdue(app: App) -> list[str]:
    result = CliRunner().invoke(cli, ["cases", "list", "--overdue", "--json"])
    assert result.exit_code == 0, result.output
    return [c["number"] for c in json.loads(result.output)]


def test_owner_is_reminded_at_half_and_four_fifths_once_each(clock_app, drain, clock) -> None:
    number = open_case(clock_app, drain)
    assert to(mails(clock_app, "acknowledgement")) == ["wang@example.net"]
    clock.move_to(T0 + timedelta(hours=11, minutes=59))
    assert tick_twice(clock_app, drain) == 0
    clock.move_to(T0 + timedelta(hours=12))
    assert tick_twice(clock_app, drain) == 1
    first = mails(clock_app, "staff_reminder")
    assert to(first) == ["li@example.org"]  # intake's on-duty member; wu is off duty
    assert first[0]["Subject"] == (
        f"[{number}] 提醒：「初步答复」将于 2026年10月13日（星期二）09:00 到期（已过 50%）"
    )
    assert first[0]["Auto-Submitted"] == "auto-generated"
    assert first[0]["Reply-To"].startswith(f"complaints+{number}.")
    assert "剩余 约 12 小时" in text(first[0]) and "#受理" in text(first[0])
    assert "wang@example.net" not in text(first[0])  # staff mail never names the complainant
    clock.move_to(T0 + timedelta(hours=19, minutes=12))
    tick_twice(clock_app, drain)
    reminders = mails(clock_app, "staff_reminder")
    assert to(reminders) == ["li@example.org", "li@example.org"]
    assert "已过 80%" in str(reminders[1]["Subject"])
    assert rows(clock_app, number)["first_feedback#0"].reminders_sent == 2


def test_a_missed_deadline_climbs_the_tiers_to_the_right_people(clock_app, drain, clock) -> None:
    number = open_case(clock_app, drain)
    clock.move_to(T0 + timedelta(hours=20))
    tick_twice(clock_app, drain)  # one catch-up reminder, the 80 % one
    assert len(mails(clock_app, "staff_reminder")) == 1
    assert overdue(clock_app) == []
    clock.move_to(T0 + timedelta(hours=24))
    tick_twice(clock_app, drain)
    tier1 = mails(clock_app, "staff_escalation")
    assert to(tier1) == ["zhao@example.org"]
    assert "第1级" in str(tier1[0]["Subject"])
    assert "2026年10月14日（星期三）09:00 前仍未办理" in text(tier1[0])
    assert overdue(clock_app) == [number]
    clock.move_to(T0 + timedelta(hours=48))
    tick_twice(clock_app, drain)
    clock.move_to(T0 + timedelta(hours=72))
    tick_twice(clock_app, drain)
    clock.move_to(T0 + timedelta(hours=200))
    tick_twice(clock_app, drain)
    escalations = mails(clock_app, "staff_escalation")
    assert to(escalations) == ["zhao@example.org", "qian@example.org", "boss@example.org"]
    assert "这是最后一级督办" in text(escalations[2]) and "领导小组" in text(escalations[2])
    assert "赵主管、钱经理" in text(escalations[2])
    row = rows(clock_app, number)["first_feedback#0"]
    assert (row.state, row.escalation_tier, row.next_action_at) == ("missed", 3, None)
    # Staff answer at last: met late, and the case is no longer overdue.
    with session_scope(clock_app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        deadlines.on_complainant_notified(s, clock_app, case, "progress", utcnow())
    assert overdue(clock_app) == []
    assert rows(clock_app, number)["first_feedback#0"].closed_at is not None


def test_an_assigned_case_reminds_its_assignee_and_escalates_in_its_group(
    clock_app, drain, clock
) -> None:
    open_case(clock_app, drain, group="tech", assignee="sun")
    clock.move_to(T0 + timedelta(hours=12))
    tick_twice(clock_app, drain)
    clock.move_to(T0 + timedelta(hours=24))
    tick_twice(clock_app, drain)
    clock.move_to(T0 + timedelta(hours=48))
    tick_twice(clock_app, drain)
    assert to(mails(clock_app, "staff_reminder")) == ["sun@example.org"]
    # tech has one supervisor: tier 2 is leadership, and that is the last tier.
    assert to(mails(clock_app, "staff_escalation")) == ["zhao@example.org", "boss@example.org"]


def test_unresolved_after_a_month_the_case_becomes_major(clock_app, drain, clock) -> None:
    number = open_case(clock_app, drain)
    clock.move_to(T0 + timedelta(hours=1))
    pull(clock_app, number, Trigger.ACCEPT)
    clock.move_to(T0 + timedelta(days=30))
    tick_twice(clock_app, drain)
    notices = mails(clock_app, "leadership_notice")
    assert to(notices) == ["boss@example.org"]
    assert notices[0]["Subject"] == f"[{number}] 重大投诉报告：超过一个月未办结"
    assert "已超过 30 天仍未办结" in text(notices[0])
    with session_scope(clock_app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        assert case.severity == "major"
        changed = s.execute(
            select(Event).where(Event.case_id == case.id, Event.kind == "severity_changed")
        ).scalars()
        assert [e.detail["rule"] for e in changed] == ["one_month"]
    assert number in overdue(clock_app)
    clock.move_to(T0 + timedelta(days=31))
    tick_twice(clock_app, drain)
    assert len(mails(clock_app, "leadership_notice")) == 1


def test_waiting_for_information_pauses_the_clock_and_resumes_with_what_was_left(
    clock_app, drain, clock
) -> None:
    number = open_case(clock_app, drain)
    clock.move_to(T0 + timedelta(hours=2))
    pull(clock_app, number, Trigger.NEED_INFO)
    paused = rows(clock_app, number)
    assert paused["first_feedback#0"].state == "met"
    assert paused["one_month#0"].state == "paused"
    assert paused["one_month#0"].remaining_seconds == (30 * 24 - 2) * 3600
    # Ten working days to supply it: 13-16, 19-23, 26 October.
    assert paused["information_wait#0"].due_at == datetime(2026, 10, 26, 23, 59, 59, tzinfo=CN)
    clock.move_to(T0 + timedelta(days=5, hours=2))  # Saturday 17 October, 11:00
    tick_twice(clock_app, drain)
    assert mails(clock_app, "staff_reminder") == []  # nothing runs while the clock waits
    pull(clock_app, number, Trigger.INFO_SUPPLIED, Actor.COMPLAINANT)
    resumed = rows(clock_app, number)
    assert resumed["one_month#0"].state == "pending"
    assert resumed["one_month#0"].due_at == T0 + timedelta(days=35)  # five days later
    assert resumed["information_wait#0"].state == "met"
    # Staff owe a first answer to the information: a new 24 h first feedback.
    fresh = resumed["first_feedback#1"]
    assert fresh.due_at == T0 + timedelta(days=6, hours=2)
    with session_scope(clock_app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        assert deadlines.next_date(s, clock_app, case) == T0 + timedelta(days=6, hours=2)


def test_no_information_in_time_ends_the_case_as_not_accepted(clock_app, drain, clock) -> None:
    number = open_case(clock_app, drain)
    clock.move_to(T0 + timedelta(hours=2))
    pull(clock_app, number, Trigger.NEED_INFO)
    clock.move_to(datetime(2026, 10, 26, 23, 59, 59, tzinfo=CN))
    tick_twice(clock_app, drain)
    clock.move_to(datetime(2026, 10, 28, 9, 0, tzinfo=CN))
    tick_twice(clock_app, drain)
    notices = mails(clock_app, "information_timeout")
    assert to(notices) == ["wang@example.net"]
    assert notices[0]["Subject"] == f"[{number}] 投诉不予受理：未在期限内收到补充材料"
    assert "截至 2026年10月26日（星期一）23:59" in text(notices[0])
    assert notices[0]["In-Reply-To"]  # threaded on the complainant's mail
    with session_scope(clock_app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        assert case.status == "not_accepted"
    assert all(d.closed_at is not None for d in rows(clock_app, number).values())
    assert overdue(clock_app) == []


def test_the_review_window_passing_closes_the_case(clock_app, drain, clock) -> None:
    number = open_case(clock_app, drain)
    clock.move_to(T0 + timedelta(hours=3))
    pull(clock_app, number, Trigger.RESOLVE)  # accepts first, then resolves
    window = rows(clock_app, number)["review_window#0"]
    # Five working days after Monday 12 October: 13, 14, 15, 16, 19.
    assert window.due_at == datetime(2026, 10, 19, 23, 59, 59, tzinfo=CN)
    clock.move_to(datetime(2026, 10, 20, 0, 0, 30, tzinfo=CN))
    tick_twice(clock_app, drain)
    closed = mails(clock_app, "case_closed")
    assert to(closed) == ["wang@example.net"]
    assert "已于 2026年10月19日（星期一）23:59 届满" in text(closed[0])
    # The stage block: the case number, where it stands, and that no date is left.
    assert f"案件编号：{number}" in text(closed[0]) and "当前阶段：已结案" in text(closed[0])
    assert "下一时间节点：无，本案件已结束" in text(closed[0])
    with session_scope(clock_app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        assert case.status == "closed" and case.closed_at is not None
    # The result notice was opened by the decision and met by the result mail; closing owes
    # the call-back within 24 hours.
    assert {k: d.state for k, d in rows(clock_app, number).items()} == {
        "first_feedback#0": "met",
        "one_month#0": "met",
        "decision#0": "met",
        "result_notice#0": "met",
        "review_window#0": "met",
        "callback#0": "pending",
    }
    assert rows(clock_app, number)["callback#0"].due_at == datetime(
        2026, 10, 21, 0, 0, 30, tzinfo=CN
    )


def test_the_call_back_after_closing_is_reminded_then_recorded_by_staff(
    clock_app, drain, clock
) -> None:
    number = open_case(clock_app, drain)
    clock.move_to(T0 + timedelta(hours=3))
    pull(clock_app, number, Trigger.RESOLVE)
    clock.move_to(datetime(2026, 10, 20, 0, 0, 30, tzinfo=CN))
    tick_twice(clock_app, drain)  # the window passed: closed, the call-back is owed
    assert mails(clock_app, "staff_reminder") == []
    clock.move_to(datetime(2026, 10, 20, 12, 0, 30, tzinfo=CN))
    tick_twice(clock_app, drain)
    (reminder,) = mails(clock_app, "staff_reminder")
    assert to([reminder]) == ["li@example.org"]  # the owner, as for any deadline
    assert reminder["Subject"] == (
        f"[{number}] 提醒：「回访」将于 2026年10月21日（星期三）00:00 到期（已过 50%）"
    )
    assert "请回访投诉人并记录满意度，然后 #结案" in text(reminder)
    assert overdue(clock_app) == []
    # Done on the phone: the staff member answers the reminder with #结案.
    staff_reply(clock_app, number, "#结案\n\n已回访，投诉人表示满意。", staff="li")
    transcript = text_of(mails_to(clock_app, "li@example.org", number)[-1])
    assert "#结案\n    → ok：已记录回访" in transcript
    assert rows(clock_app, number)["callback#0"].state == "met"
    clock.move_to(datetime(2026, 10, 21, 9, 0, tzinfo=CN))
    tick_twice(clock_app, drain)
    assert mails(clock_app, "staff_escalation") == [] and overdue(clock_app) == []
    # A second #close has nothing left to record: refused as before.
    staff_reply(clock_app, number, "#结案\n", staff="li")
    again = text_of(mails_to(clock_app, "li@example.org", number)[-1])
    assert "→ 未执行：案件已经是「已结案」状态" in again


def test_a_missed_call_back_escalates_on_a_closed_case(clock_app, drain, clock) -> None:
    number = open_case(clock_app, drain)
    clock.move_to(T0 + timedelta(hours=3))
    pull(clock_app, number, Trigger.RESOLVE)
    pull(clock_app, number, Trigger.CLOSE)  # staff closed early, within the review window
    assert rows(clock_app, number)["callback#0"].due_at == T0 + timedelta(hours=27)
    clock.move_to(T0 + timedelta(hours=27))
    tick_twice(clock_app, drain)
    (tier1,) = mails(clock_app, "staff_escalation")
    assert to([tier1]) == ["zhao@example.org"] and "「回访」" in str(tier1["Subject"])
    assert overdue(clock_app) == [number]


def test_no_call_back_when_the_policy_turns_them_off(clock_app, drain, clock) -> None:
    off = App(
        settings=clock_app.settings,
        policy=clock_app.policy.model_copy(
            update={"sla": clock_app.policy.sla.model_copy(update={"callbacks": False})}
        ),
    )
    wiring.start(off)
    number = open_case(off, drain)
    pull(off, number, Trigger.RESOLVE)
    pull(off, number, Trigger.CLOSE)
    assert "callback#0" not in rows(off, number)


def test_an_extension_moves_the_decision_and_its_reminders(clock_app, drain, clock) -> None:
    number = open_case(clock_app, drain)
    clock.move_to(T0 + timedelta(hours=1))  # accepted Monday 10:00: due Wednesday 21 October
    pull(clock_app, number, Trigger.ACCEPT)
    assert rows(clock_app, number)["decision#0"].due_at == datetime(
        2026, 10, 21, 23, 59, 59, tzinfo=CN
    )
    clock.move_to(datetime(2026, 10, 21, 12, 0, tzinfo=CN))
    tick_twice(clock_app, drain)
    assert len(mails(clock_app, "staff_reminder")) == 1  # the 80 % one (caught up)
    with session_scope(clock_app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        new_due = deadlines.extend(s, clock_app, case, 3, utcnow())
        assert deadlines.next_date(s, clock_app, case) == new_due
    # Three more working days: Thursday 22, Friday 23, Monday 26 October.
    assert new_due == datetime(2026, 10, 26, 23, 59, 59, tzinfo=CN)
    clock.move_to(datetime(2026, 10, 22, 9, 0, tzinfo=CN))
    tick_twice(clock_app, drain)
    assert mails(clock_app, "staff_escalation") == []  # the old due date passed harmlessly
    # The extension started a new period with its own reminders.
    clock.move_to(datetime(2026, 10, 26, 9, 0, tzinfo=CN))
    tick_twice(clock_app, drain)
    reminders = mails(clock_app, "staff_reminder")
    assert len(reminders) == 2
    assert "2026年10月26日（星期一）23:59 到期（已过 80%）" in str(reminders[1]["Subject"])
    clock.move_to(datetime(2026, 10, 27, 0, 0, 30, tzinfo=CN))
    tick_twice(clock_app, drain)
    escalations = mails(clock_app, "staff_escalation")
    assert to(escalations) == ["zhao@example.org"]
    assert "2026年10月26日（星期一）23:59" in str(escalations[0]["Subject"])


def test_only_the_lock_holder_ticks_and_the_stub_broker_needs_no_lock(clock_app, clock) -> None:
    first, second = Scheduler(clock_app), Scheduler(clock_app)
    assert first.run_once() is not None and second.run_once() is not None
    first.lock.release()
    second.lock.release()


def test_scheduler_once_from_the_command_line(clock_app, drain, clock) -> None:
    open_case(clock_app, drain)
    clock.move_to(T0 + timedelta(hours=12))
    result = CliRunner().invoke(cli, ["scheduler", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 deadlines due at 2026-10-12T21:00:00+08:00" in result.output
    assert to(mails(clock_app, "staff_reminder")) == ["li@example.org"]


def test_reminders_to_staff_are_not_held_back_by_the_auto_reply_cap(
    clock_app, drain, clock
) -> None:
    # The hourly per-address cap stops loops with outside auto-responders; six reminders due
    # at once to one staff member must all go out at once.
    cap = clock_app.policy.limits.max_auto_replies_per_sender_per_hour  # 5
    for _ in range(cap + 1):
        open_case(clock_app, drain)
    clock.move_to(T0 + timedelta(hours=12))
    tick_twice(clock_app, drain)
    assert to(mails(clock_app, "staff_reminder")) == ["li@example.org"] * (cap + 1)
