"""Route stage (issue 6): within one drain a complaint has a category, a severity and an owner,
the owner's mail says why and how to correct it, and a major case reaches leadership once.

Complaints go through the real pipeline (ingest → classify → route → sender on the stub
broker); assertions read the mails as the staff member's client shows them.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Case
from models.db import session_scope
from models.types import utcnow
from tests.actors import actor
from tests.unit.casemail import build_mail, feed, mails_to
from tests.unit.triage import (
    PRIVACY_BODY,
    complain,
    complaint,
    events,
    isolated_model_path,
    recipient,
    reload,
    sent,
    text_of,
)
from workers import wiring
from workers.app import App
from workers.intake.ingest import ingest
from workers.intake.raw_store import store_raw
from workers.mail.tokens import read_reply_address
from workers.triage.route import pseudonymise
from workers.triage.route_case import unrouted_case_ids


@pytest.fixture(autouse=True)
def model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolated_model_path(tmp_path, monkeypatch)


def with_policy(app: App, **routing: object) -> App:
    """The same deployment with other routing settings or staff on duty (the actors use it)."""
    policy = app.policy.model_copy(deep=True)
    for key, value in routing.items():
        setattr(policy.routing, key, value)
    changed = App(app.settings, policy)
    wiring.start(changed)
    return changed


def off_duty(app: App, *staff_ids: str) -> App:
    policy = app.policy.model_copy(deep=True)
    for member in policy.staff:
        if member.id in staff_ids:
            member.on_duty = False
    changed = App(app.settings, policy)
    wiring.start(changed)
    return changed


def test_major_privacy_complaint_goes_to_legal_and_leadership_once(app: App, drain) -> None:
    case = complain(app, drain, "个人信息泄露，已有媒体联系我", PRIVACY_BODY)

    assert (case.category, case.severity) == ("privacy", "major")
    assert (case.assigned_group, case.assignee) == ("legal", "wu")
    [notice] = sent(app, "staff_notification")
    assert recipient(notice) == "wu@example.org"
    assert notice["Subject"] == f"[{case.number}] 新投诉分派给您：个人信息泄露，已有媒体联系我"
    assert notice["Auto-Submitted"] == "auto-generated"
    token = read_reply_address(
        notice["Reply-To"].addresses[0].addr_spec, app.settings.intake_address, app.secret
    )
    assert token is not None and (token.case_number, token.staff_id) == (case.number, "wu")
    text = text_of(notice)
    assert "category privacy: " in text and "泄露" in text and "个人信息" in text
    assert "severity major: 媒体, 几万条" in text
    assert "group legal: handles privacy" in text and "assignee wu: 0 open cases" in text
    assert "#分类 <分类代码>（#category <code>）" in text  # the one-line corrections
    assert "#级别 一般|重要|重大" in text
    assert "#转办 <小组|工作人员> (#assign)" in text  # the whole cheat-sheet
    assert "请人工确认" not in text

    leaders = sent(app, "leadership_notice")
    assert sorted(recipient(m) for m in leaders) == ["qian@example.org", "zhao@example.org"]
    assert "重大投诉" in text_of(leaders[0]) and "severity major" in text_of(leaders[0])
    assert all(
        m["Reply-To"].addresses[0].addr_spec.startswith(f"complaints+{case.number}.")
        for m in leaders
    )

    # The actors run again (a broker redelivery, the sweeper): nothing new, nobody mailed twice.
    actor("classify_case").send(case.id)
    actor("route_case").send(case.id)
    drain()
    assert len(sent(app, "staff_notification")) == 1
    assert len(sent(app, "leadership_notice")) == 2
    assert len(events(app, case.id, "classified")) == 1
    assert len(events(app, case.id, "assigned")) == 1
    assert (reload(app, case.id).assignee) == "wu"


def test_legal_sees_a_pseudonym_never_the_complainant(app: App, drain) -> None:
    complain(app, drain, "个人信息泄露，已有媒体联系我", PRIVACY_BODY)
    outside_intake = sent(app, "staff_notification", "wu@example.org") + sent(
        app, "leadership_notice", "qian@example.org"
    )
    assert len(outside_intake) == 2
    for mail in outside_intake:
        whole = mail.as_string() + text_of(mail) + mail.get_body(("html",)).get_content()
        assert "王建国" not in whole and "wangjianguo" not in whole.lower()
        assert "13800138000" not in whole  # nor the phone number in their signature
    text = text_of(sent(app, "staff_notification")[0])
    assert "投诉人：投诉人" in text  # a per-case pseudonym such as 投诉人KQ
    assert "你们平台泄露了我的个人信息" in text  # the complaint itself is there


# The audit's case (issue 6 item 4): the complainant put their name and phone in the subject.
LEAKY_SUBJECT = "王建国 13800138000 个人信息泄露，已有媒体联系我"


def whole(mail) -> str:
    """Everything the recipient's client can show: headers, text and HTML."""
    return mail.as_string() + text_of(mail) + mail.get_body(("html",)).get_content()


def test_outside_intake_the_subject_is_redacted_too(app: App, drain) -> None:
    case = complain(app, drain, LEAKY_SUBJECT, PRIVACY_BODY)
    pseudonym = pseudonymise("wangjianguo@qq.com", case.number)
    seen = f"{pseudonym} [已隐去] 个人信息泄露，已有媒体联系我"
    [notice] = sent(app, "staff_notification", "wu@example.org")
    assert notice["Subject"] == f"[{case.number}] 新投诉分派给您：{seen}"
    assert f"案件 {case.number}「{seen}」" in text_of(notice)
    [leader] = sent(app, "leadership_notice", "qian@example.org")  # leadership only
    assert leader["Subject"] == f"[{case.number}] 重大投诉报告：{seen}"
    assert f"案件 {case.number}「{seen}」为重大投诉" in text_of(leader)
    for mail in (notice, leader):
        assert "王建国" not in whole(mail) and "13800138000" not in whole(mail)
    # zhao is in intake as well as leadership: intake sees the subject as the complainant wrote it.
    [intake_leader] = sent(app, "leadership_notice", "zhao@example.org")
    assert intake_leader["Subject"] == f"[{case.number}] 重大投诉报告：{LEAKY_SUBJECT}"


def test_intake_sees_the_subject_and_the_complainant_as_written(app: App, drain) -> None:
    app = off_duty(app, "wu")  # nobody in legal: intake is told
    case = complain(app, drain, LEAKY_SUBJECT, PRIVACY_BODY)
    for notice in sent(app, "staff_notification"):
        assert notice["Subject"] == f"[{case.number}] 新投诉待认领：{LEAKY_SUBJECT}"
        text = text_of(notice)
        assert "投诉人：王建国 <wangjianguo@qq.com>" in text
        assert "wangjianguo@qq.com  13800138000" in text  # the signature, untouched


def complainant_writes_again(app: App, number: str, body: str) -> None:
    """The complainant answers their acknowledgement (its Reply-To, threaded on it)."""
    [ack] = sent(app, to="wangjianguo@qq.com")
    feed(
        app,
        build_mail(
            "王建国 <wangjianguo@qq.com>",
            ack["Reply-To"].addresses[0].addr_spec,
            f"Re: {ack['Subject']}",
            body,
            in_reply_to=ack["Message-ID"].strip("<>"),
        ),
    )


FOLLOW_UP = (
    "补充一下：泄露的信息里有我的身份证号 110101198001011234 和家里座机 010-62345678。\n\n"
    "王建国\n手机 +86 138-0013-8000\nwangjianguo@qq.com\n"
)


def test_a_follow_up_reaches_the_assignee_outside_intake_redacted(app: App, drain) -> None:
    case = complain(app, drain, LEAKY_SUBJECT, PRIVACY_BODY)
    complainant_writes_again(app, case.number, FOLLOW_UP)
    pseudonym = pseudonymise("wangjianguo@qq.com", case.number)
    [notice] = [
        m for m in mails_to(app, "wu@example.org", case.number) if "投诉人来信" in m["Subject"]
    ]
    assert notice["Subject"] == (
        f"[{case.number}] 投诉人来信：{pseudonym} [已隐去] 个人信息泄露，已有媒体联系我"
    )
    text = text_of(notice)
    assert (
        "补充一下：泄露的信息里有我的身份证号 [已隐去] 和家里座机 [已隐去]。\n\n"
        f"{pseudonym}\n手机 [已隐去]\n{pseudonym}"
    ) in text
    for secret in ("王建国", "wangjianguo", "110101198001011234", "62345678", "138-0013-8000"):
        assert secret not in whole(notice)


def test_a_follow_up_to_intake_is_shown_as_written(app: App, drain) -> None:
    app = off_duty(app, "wu")  # unassigned: intake handles the case and its mail
    case = complain(app, drain, LEAKY_SUBJECT, PRIVACY_BODY)
    complainant_writes_again(app, case.number, FOLLOW_UP)
    [notice] = [
        m for m in mails_to(app, "li@example.org", case.number) if "投诉人来信" in m["Subject"]
    ]
    assert notice["Subject"] == f"[{case.number}] 投诉人来信：{LEAKY_SUBJECT}"
    assert "身份证号 110101198001011234" in text_of(notice)
    assert "王建国\n手机 +86 138-0013-8000\nwangjianguo@qq.com" in text_of(notice)


def test_the_policy_may_show_the_subject_outside_intake(app: App, drain) -> None:
    app = with_policy(app, identity_visible_outside_intake=True)
    case = complain(app, drain, LEAKY_SUBJECT, PRIVACY_BODY)
    [notice] = sent(app, "staff_notification", "wu@example.org")
    assert notice["Subject"] == f"[{case.number}] 新投诉分派给您：{LEAKY_SUBJECT}"


def test_the_policy_may_show_the_complainant_outside_intake(app: App, drain) -> None:
    app = with_policy(app, identity_visible_outside_intake=True)
    complain(app, drain, "个人信息泄露，已有媒体联系我", PRIVACY_BODY)
    text = text_of(sent(app, "staff_notification")[0])
    assert "投诉人：王建国 <wangjianguo@qq.com>" in text


def test_staff_read_the_organisation_language(app: App, drain) -> None:
    policy = app.policy.model_copy(update={"default_language": "en"})
    app = App(app.settings, policy)
    wiring.start(app)
    case = complain(app, drain, "个人信息泄露，已有媒体联系我", PRIVACY_BODY)
    [notice] = sent(app, "staff_notification")
    assert notice["Subject"] == f"[{case.number}] New case for you: 个人信息泄露，已有媒体联系我"
    text = text_of(notice)
    assert "A new complaint has been assigned to you." in text
    assert "category: privacy Privacy / personal information leak  severity: major" in text
    assert "#category <code>" in text and "#assign <group|staff> (#转办)" in text
    assert "[withheld]" in text and "13800138000" not in text
    assert "Major complaint: " in sent(app, "leadership_notice")[0]["Subject"]


def test_cases_go_to_the_least_loaded_member_and_closed_cases_do_not_count(app: App, drain) -> None:
    body = "商品详情页宣称是纯棉，收到货发现是化纤，属于虚假宣传，要求退一赔三。"
    first = complain(app, drain, "虚假宣传一", body)
    second = complain(app, drain, "虚假宣传二", body)
    third = complain(app, drain, "虚假宣传三", body)
    assert [c.assigned_group for c in (first, second, third)] == ["handling"] * 3
    assert [c.assignee for c in (first, second, third)] == ["li", "zhou", "li"]
    assert [recipient(m) for m in sent(app, "staff_notification")] == [
        "li@example.org",
        "zhou@example.org",
        "li@example.org",
    ]
    with session_scope(app.db_url) as s:
        for case in s.execute(select(Case).where(Case.assignee == "li")).scalars():
            case.status = "closed"
    fourth = complain(app, drain, "虚假宣传四", body)
    assert fourth.assignee == "li"  # 0 open cases against zhou's 1
    assert "assignee li: 0 open cases" in text_of(sent(app, "staff_notification")[-1])


def test_nobody_on_duty_in_the_group_tells_intake(app: App, drain) -> None:
    app = off_duty(app, "wu")
    case = complain(app, drain, "个人信息泄露，已有媒体联系我", PRIVACY_BODY)
    assert (case.assigned_group, case.assignee) == ("legal", None)
    notices = sent(app, "staff_notification")
    assert sorted(recipient(m) for m in notices) == ["li@example.org", "zhao@example.org"]
    text = text_of(notices[0])
    assert "新投诉尚未分派承办人" in text and "#转办" in text
    assert "unassigned: nobody in legal is on duty" in text
    assert "王建国" in text  # intake answers the complainant: it sees who they are


def test_an_unclear_complaint_asks_intake_to_confirm_the_category(app: App, drain) -> None:
    case = complain(app, drain, "关于上周的事情", "上周的事情到现在还没有结果，麻烦看一下。")
    assert case.category == "other" and case.classification["needs_review"] is True
    assert case.assigned_group == "intake"
    [notice] = sent(app, "staff_notification")
    assert recipient(notice) in {"li@example.org", "zhao@example.org"}
    assert "请人工确认分类" in notice["Subject"]
    assert "请人工确认：系统不能确定本投诉的分类" in text_of(notice)


def test_complainants_get_only_their_acknowledgement(app: App, drain) -> None:
    case = complain(app, drain, "个人信息泄露，已有媒体联系我", PRIVACY_BODY)
    [ack] = sent(app, to="wangjianguo@qq.com")
    assert ack["Subject"].startswith(f"[{case.number}] 投诉已受理登记")


def test_a_case_whose_triage_was_lost_is_found_again(app: App, drain) -> None:
    with session_scope(app.db_url) as s:
        raw_id = store_raw(s, complaint("个人信息泄露", PRIVACY_BODY), "test").id
    case_id = ingest(app, raw_id).case_id  # committed, then the worker died before enqueueing
    later = utcnow() + timedelta(minutes=5)
    with session_scope(app.db_url) as s:
        assert unrouted_case_ids(s, later) == [case_id]
        assert unrouted_case_ids(s, utcnow() - timedelta(minutes=5)) == []  # not before grace
    actor("classify_case").send(case_id)  # what the sweeper would do
    drain()
    with session_scope(app.db_url) as s:
        assert unrouted_case_ids(s, later) == []
    assert [recipient(m) for m in sent(app, "staff_notification")] == ["wu@example.org"]


def test_every_new_case_reaches_its_owner_however_many_arrive(app: App, drain) -> None:
    for i in range(7):
        with session_scope(app.db_url) as s:
            raw = store_raw(
                s, complaint(f"个人信息泄露 {i}", PRIVACY_BODY, f"c{i}@example.net"), "test"
            )
            raw_id = raw.id
        actor("ingest_message").send(raw_id)
    drain()
    assert len(sent(app, "staff_notification", "wu@example.org")) == 7
