"""Staff see one case summary and one kind of mail whichever path mailed them: the routing
notification, the clock's reminder, a command transcript, a follow-up notice
(workers.outbound.staff_letters)."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Deadline, OutboundEmail
from models.db import session_scope
from tests.unit.casemail import COMPLAINANT, complainant_reply, mails_to, staff_reply, text_of
from tests.unit.triage import PRIVACY_BODY, complain, isolated_model_path
from workers.app import App
from workers.clock.due import run_due
from workers.clock.rules import Do


@pytest.fixture(autouse=True)
def model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolated_model_path(tmp_path, monkeypatch)


# The lines of templates/zh-CN/_staff_case.txt.j2: the heading and the summary's own lines.
SUMMARY_LINE = re.compile(
    r"案件 \S+「.*」|  (状态|分类|承办|下一时间节点|已并入)：.*|  已标记为恶意投诉"
)


def summary_block(mail: EmailMessage) -> list[str]:
    return [line for line in text_of(mail).splitlines() if SUMMARY_LINE.fullmatch(line)]


def remind_once(app: App, case_id: int) -> None:
    """Run the clock on the case's first deadline with a reminder due, at that moment."""
    with session_scope(app.db_url) as s:
        row = s.execute(
            select(Deadline)
            .where(Deadline.case_id == case_id, Deadline.next_action_at.is_not(None))
            .order_by(Deadline.next_action_at)
            .limit(1)
        ).scalar_one()
        deadline_id, at = row.id, row.next_action_at
    outcome = run_due(app, deadline_id, at)
    assert outcome.action is not None and outcome.action.do == Do.REMIND


def test_the_routing_notification_and_a_reminder_show_the_same_summary(app: App, drain) -> None:
    case = complain(app, drain, "个人信息泄露，已有媒体联系我", PRIVACY_BODY)
    assert case.assignee == "wu"
    remind_once(app, case.id)
    [notification] = [
        m
        for m in mails_to(app, "wu@example.org", case.number)
        if m["Subject"].startswith(f"[{case.number}] 新投诉")
    ]
    [reminder] = [m for m in mails_to(app, "wu@example.org", case.number) if "提醒" in m["Subject"]]
    block = summary_block(notification)
    assert block == summary_block(reminder)
    assert len(block) == 5, block  # heading, state, category and severity, owner, next date
    assert "  承办：" in block[3] and "(wu)" in block[3]
    assert block[4].startswith("  下一时间节点：")


def test_every_staff_mail_is_auto_generated(app: App, drain) -> None:
    case = complain(
        app, drain, "个人信息泄露，已有媒体联系我", PRIVACY_BODY, frm=f"王先生 <{COMPLAINANT}>"
    )  # whom complainant_reply writes as
    remind_once(app, case.id)
    staff_reply(app, case.number, "#note 已联系投诉人\n", staff="wu")
    complainant_reply(app, case.number, "请问现在处理到哪一步了？")
    addresses = {m.email.lower() for m in app.policy.staff}
    with session_scope(app.db_url) as s:
        rows = [
            r
            for r in s.execute(
                select(OutboundEmail).where(OutboundEmail.case_id == case.id)
            ).scalars()
            if r.to_addr in addresses
        ]
        headers = {
            (r.kind, message_from_bytes(r.raw, policy=policy.default)["Auto-Submitted"])
            for r in rows
        }
    assert {kind for kind, _ in headers} >= {
        "staff_notification",
        "leadership_notice",
        "staff_reminder",
        "staff_transcript",
        "staff_followup_notice",
    }
    assert {header for _, header in headers} == {"auto-generated"}
