"""Redaction (issue 6 item 4): staff outside intake never read who complains, whatever form the
complainant's name, address, phone or ID number takes in the subject and text; intake, and
everyone when the policy allows it, read them as written.

The pure function first, on the text complainants really send; then the clock's mails
(reminder, escalation, one-month leadership notice) as each recipient's client shows them.
"""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from models import Case, Deadline
from models.db import session_scope
from models.types import utcnow
from workers.app import App
from workers.clock import letters as clock_mail
from workers.mail.redact import WITHHELD_EN, WITHHELD_ZH, redact, staff_view
from workers.outbound.outbox import queue_reply
from workers.triage.route import pseudonymise

LABEL = "投诉人QX"
ZHANG = {"name": "张三", "email": "zhangsan1990@163.com", "label": LABEL, "withheld": WITHHELD_ZH}


def masked(text: str, **who: str) -> str:
    return redact(text, **{**ZHANG, **who})


@pytest.mark.parametrize(
    ("text", "seen"),
    [
        # The audit's subjects.
        ("张三 13812345678 宽带断网", f"{LABEL} [已隐去] 宽带断网"),
        ("宽带断网（zhangsan1990@163.com）", f"宽带断网（{LABEL}）"),
        # The name: whole, with a title, spaced, traditional; a street named like it is not a name.
        ("我是张三先生，家住建国路", f"我是{LABEL}先生，家住建国路"),
        ("张 三", LABEL),
        ("張三", LABEL),
        # The address in any form: case, full width, spelled out, mailto, the login alone.
        ("ZhangSan1990@163.COM", LABEL),
        ("ｚｈａｎｇｓａｎ１９９０＠１６３．ｃｏｍ", LABEL),
        ("zhangsan1990 at 163 dot com", LABEL),
        ("zhangsan1990(at)163.com", LABEL),
        ("mailto:zhangsan1990@163.com", f"mailto:{LABEL}"),
        ("微信：zhangsan1990", f"微信：{LABEL}"),
        # Someone else's address, and the complainant's other ones, are contact data too.
        ("抄送 lisi@example.com 和 zs_backup@qq.com", "抄送 [已隐去] 和 [已隐去]"),
        # Mobiles: +86, 0086, (+86), dashes, spaces, full width.
        ("电话+86 138 1234 5678。", "电话[已隐去]。"),
        ("0086-13912345678", "[已隐去]"),
        ("(+86)139-1234-5678", "[已隐去]"),
        ("手机１３８１２３４５６７８", "手机[已隐去]"),
        # Landlines.
        ("座机 010-12345678，(0755)88886666，0571 8888 6666", "座机 [已隐去]，[已隐去]，[已隐去]"),
        # Identity card numbers, with X, lower-case x, in 6-8-4 groups.
        ("身份证号11010519491231002X", "身份证号[已隐去]"),
        ("身份证 110105 19491231 002x 已被泄露", "身份证 [已隐去] 已被泄露"),
    ],
)
def test_what_staff_outside_intake_read(text: str, seen: str) -> None:
    assert masked(text) == seen


@pytest.mark.parametrize(
    "text",
    [
        "订单号 202403151234567890，损失 5000 元，2024-03-15 10:30 下单",
        "客服热线 400-820-8820，工号 10086",
        "案件 TS-2026-000123 由吴律师承办",
        "第3次投诉，孩子12岁",
    ],
)
def test_what_is_not_identity_is_left_alone(text: str) -> None:
    assert masked(text) == text


def test_a_latin_name_in_any_order_and_its_pieces() -> None:
    who = {"name": "Zhang Wei", "email": "zw@example.net", "withheld": WITHHELD_EN}
    text = "Regards, Zhang Wei (WEI, Zhang). Call Zhang. Email zw@example.net or a Weissbier."
    assert masked(text, **who) == (
        f"Regards, {LABEL} ({LABEL}). Call {LABEL}. Email {LABEL} or a Weissbier."
    )


def test_without_a_display_name_only_the_address_and_contacts_go() -> None:
    assert masked("张三 zhangsan1990@163.com 13812345678", name="") == f"张三 {LABEL} [已隐去]"
    assert masked("", name="") == ""


def test_who_sees_the_complainant(app: App) -> None:
    case = Case(
        number="TS-2026-000777",
        subject="张三 13812345678 宽带断网",
        complainant_email="zhangsan1990@163.com",
        complainant_name="张三",
    )
    staff = {m.id: m for m in app.policy.staff}
    pseudonym = pseudonymise("zhangsan1990@163.com", case.number)
    outside = staff_view(app, case, staff["zhou"], "zh-CN")  # handling group only
    assert outside.complainant == pseudonym
    assert outside(case.subject) == f"{pseudonym} [已隐去] 宽带断网"
    assert staff_view(app, case, staff["qian"], "en")(case.subject) == (  # leadership only
        f"{pseudonym} [withheld] 宽带断网"
    )
    intake = staff_view(app, case, staff["li"], "zh-CN")  # intake and handling
    assert intake.complainant == "张三 <zhangsan1990@163.com>"
    assert intake(case.subject) == case.subject


# -- the clock's mails, as their recipients read them ------------------------------------------

SUBJECT = "张三 13812345678 宽带连续三天断网"


def clock_mails(app: App, build, number: str = "TS-2026-000321") -> dict[str, EmailMessage]:
    """Queue what `build(case, deadline, staff)` asks for on a real case; each recipient's mail."""
    now = utcnow()
    with session_scope(app.db_url) as s:
        case = Case(
            number=number,
            subject=SUBJECT,
            status="accepted",
            complainant_email="zhangsan1990@163.com",
            complainant_name="张三",
            assigned_group="handling",
            assignee="zhou",
            received_at=now - timedelta(days=3),
        )
        s.add(case)
        s.flush()
        row = Deadline(
            case_id=case.id,
            kind="decision",
            started_at=now - timedelta(days=3),
            due_at=now - timedelta(hours=5),
        )
        s.add(row)
        s.flush()
        staff = {m.id: m for m in app.policy.staff}
        rows = [queue_reply(s, app, case, r) for r in build(case, row, staff)]
        return {
            r.to_addr: message_from_bytes(r.raw, policy=policy.default)
            for r in rows
            if r is not None
        }


def read(mail: EmailMessage) -> str:
    return (
        mail["Subject"]
        + "\n"
        + mail.get_body(("plain",)).get_content()
        + (mail.get_body(("html",)).get_content())
    )


def test_reminders_hide_the_complainant_from_the_handling_group_not_from_intake(app: App) -> None:
    mails = clock_mails(
        app,
        lambda case, row, staff: clock_mail.reminder_requests(
            app, case, row, 1, utcnow(), [staff["zhou"], staff["li"]]
        ),
    )
    pseudonym = pseudonymise("zhangsan1990@163.com", "TS-2026-000321")
    zhou = read(mails["zhou@example.org"])
    assert f"案件 TS-2026-000321「{pseudonym} [已隐去] 宽带连续三天断网」" in zhou
    assert "张三" not in zhou and "13812345678" not in zhou
    assert f"案件 TS-2026-000321「{SUBJECT}」" in read(mails["li@example.org"])


def test_escalations_and_the_one_month_notice_hide_the_complainant_from_leadership(
    app: App,
) -> None:
    pseudonym = pseudonymise("zhangsan1990@163.com", "TS-2026-000321")
    escalated = clock_mails(
        app,
        lambda case, row, staff: clock_mail.escalation_requests(
            app, case, row, 2, utcnow(), [[staff["zhao"]], [staff["qian"]]], None
        ),
    )
    [qian] = escalated.values()
    assert f"「{pseudonym} [已隐去] 宽带连续三天断网」的时限" in read(qian)
    assert "13812345678" not in qian.as_string() and "张三" not in read(qian)

    told = clock_mails(
        app,
        lambda case, row, staff: clock_mail.one_month_requests(
            app, case, row, [staff["zhao"], staff["qian"]]
        ),
        "TS-2026-000322",
    )
    pseudonym = pseudonymise("zhangsan1990@163.com", "TS-2026-000322")
    assert f"「{pseudonym} [已隐去] 宽带连续三天断网」" in read(told["qian@example.org"])
    assert "张三" not in read(told["qian@example.org"])
    # zhao leads intake as well: intake answers the complainant and sees who they are.
    assert f"「{SUBJECT}」" in read(told["zhao@example.org"])


# Issue 11 item 15: what redaction missed. (text, the complainant's From name, what staff read)
W = WITHHELD_ZH
MISSED: list[tuple[str, str, str]] = [
    # A signature or self-introduction names them although From has no display name.
    ("宽带断网三天。\n此致 王建国", "", f"宽带断网三天。\n此致 {LABEL}"),
    (
        "请尽快处理。\n此致\n敬礼！\n王建国\n2026年3月12日",
        "",
        f"请尽快处理。\n此致\n敬礼！\n{LABEL}\n2026年3月12日",
    ),
    ("谢谢！陈晓东", "", f"谢谢！{LABEL}"),
    ("謝謝！陳曉東", "", f"謝謝！{LABEL}"),
    ("我是欧阳娜娜", "", f"我是{LABEL}"),
    (
        "我是王建国，家住建国路。王建国的电话打不通",
        "",
        f"我是{LABEL}，家住建国路。{LABEL}的电话打不通",
    ),
    ("本人李明投诉快递丢件", "", f"本人{LABEL}投诉快递丢件"),
    ("投诉人：王建国", "", f"投诉人：{LABEL}"),
    ("Parcel lost.\nRegards,\nJohn Smith", "", f"Parcel lost.\nRegards,\n{LABEL}"),
    ("My name is Li Na and my parcel is lost.", "", f"My name is {LABEL} and my parcel is lost."),
    # A name in pinyin: from the login, also reversed.
    ("Wang Jianguo here", "", f"{LABEL} here"),
    ("Jianguo Wang, Beijing", "", f"{LABEL}, Beijing"),
    ("wang.jianguo", "", LABEL),
    # Identity card numbers with hyphens or spaces, and the 15-digit form.
    ("身份证 110105-19491231-002X", "", f"身份证 {W}"),
    ("身份证 110105 1949 1231 002X", "", f"身份证 {W}"),
    ("老身份证 110105491231002", "", f"老身份证 {W}"),
    # Phones written with dots; Taiwan and Hong Kong mobiles and landlines.
    ("电话138.1234.5678", "", f"电话{W}"),
    ("手機 0912-345-678", "", f"手機 {W}"),
    ("手機0912345678", "", f"手機{W}"),
    ("+886 912 345 678", "", W),
    ("電話 (02)2345-6789", "", f"電話 {W}"),
    ("香港手提 9123 4567", "", f"香港手提 {W}"),
    ("+852 9123 4567", "", W),
    ("聯絡電話：91234567", "", f"聯絡電話：{W}"),
    # Taiwan and Hong Kong identity cards.
    ("身分證字號 A123456789", "", f"身分證字號 {W}"),
    ("身份證 A123456(3)", "", f"身份證 {W}"),
    ("身份證 A1234563", "", f"身份證 {W}"),
    # QQ and WeChat ids: only the id goes.
    ("QQ: 12345678", "", f"QQ: {W}"),
    ("qq号 987654321", "", f"qq号 {W}"),
    ("微信号：wxid_ab12cd34", "", f"微信号：{W}"),
    ("WeChat: zs_beijing", "", f"WeChat: {W}"),
    ("加我vx abc12345", "", f"加我vx {W}"),
    # Two numbers in a row both go.
    ("138.1234.5678 139.8765.4321", "", f"{W} {W}"),
]


@pytest.mark.parametrize(("text", "name", "seen"), MISSED)
def test_what_redaction_missed(text: str, name: str, seen: str) -> None:
    who = {"name": name, "email": "wangjianguo1990@163.com"}
    assert masked(text, **who) == seen


@pytest.mark.parametrize(
    "text",
    [
        "订单号 202403151234567890，损失 5000 元，2024-03-15 10:30 下单",
        "订单 91234567 与 56781234，快递单号 773012345678901",
        "退款 1,280.50 元，2026.03.12 和 2026/03/12 下单，共 3 件",
        "客服热线 400-820-8820，95588，0800-123-456 免付费",
        "案件 TS-2026-000123 由吴律师承办，工号 10086",
        "型号 A1234567 的电视，编号 B12345678",
        "我是一名老用户，谢谢您的帮助，感谢商家",
        "谢谢王经理，谢谢马上处理，感谢周末加班的师傅",
        "I am writing to complain. Thanks, The Support Team",
    ],
)
def test_ordinary_complaint_text_is_not_over_redacted(text: str) -> None:
    assert masked(text, name="", email="wangjianguo1990@163.com") == text
