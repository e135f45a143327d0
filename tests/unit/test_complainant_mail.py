"""Complainant replies: the reaction a complainant and the staff see, by what the new text asks
(review in and after the window, withdrawal, rating, information, the final decision)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from models import Case, Deadline
from models.db import session_scope
from tests.unit.casemail import (
    COMPLAINANT,
    build_mail,
    case_of,
    complainant_reply,
    events,
    feed,
    mails_to,
    open_complaint,
    set_case,
    staff_reply,
    text_of,
)
from workers.app import App
from workers.casework.complainant_mail import consent_answer
from workers.casework.lifecycle import system_transition
from workers.casework.transitions import Trigger
from workers.mail.tokens import read_reply_address

RESULT = "经核实，商家同意退货并全额退款。"


def _resolved(app: App) -> str:
    number = open_complaint(app)
    staff_reply(app, number, f"#办结\n\n{RESULT}")
    return number


def _last_to(app: App, address: str, number: str) -> str:
    return text_of(mails_to(app, address, number)[-1])


def test_review_request_within_the_window(app: App) -> None:
    number = _resolved(app)
    result = mails_to(app, COMPLAINANT, number)[-1]
    outcome = complainant_reply(app, number, "我对结果不满意，申请复查。商家至今没有退款。")
    case = case_of(app, number=number)
    assert case.status == "review_requested" and case.review_requested_at is not None
    ack = mails_to(app, COMPLAINANT, number)[-1]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] != result["In-Reply-To"]  # threaded on their review request
    assert "收到您对案件" in text_of(ack) and "复查结论为最终结论" in text_of(ack)
    assert "当前阶段：已申请复查" in text_of(ack)
    assert "投诉人在期限内申请复查" in _last_to(app, "zhao@example.org", number)
    assert len(outcome.outbound_ids) == 3  # the acknowledgement, zhao and li (intake)


def test_review_request_after_the_window_is_politely_refused(app: App) -> None:
    number = _resolved(app)
    sent = case_of(app, number=number).result_sent_at
    complainant_reply(app, number, "我不服这个处理结果，要求复查。", at=sent + timedelta(days=14))
    assert case_of(app, number=number).status == "resolved"
    closed = mails_to(app, COMPLAINANT, number)[-1]
    window_end = app.calendar.add_working_days(sent, 5)
    assert "已于 " + app.calendar.format_date(window_end, "zh-CN") + " 届满" in text_of(closed)
    assert events(app, number, "review_request_late")


def test_quoted_review_notice_is_not_a_request(app: App) -> None:
    number = _resolved(app)
    complainant_reply(
        app,
        number,
        "收到，谢谢。\n\n> 如您对处理结果不满意，可在收到本结果后 5 个工作日内申请复查\n",
    )
    assert case_of(app, number=number).status == "resolved"


def test_more_words_during_a_review_go_to_staff(app: App) -> None:
    number = _resolved(app)
    complainant_reply(app, number, "我对结果不满意，申请复查。")
    complainant_reply(app, number, "补充复查理由：商家承诺的退款至今未到账，申请复查。")
    assert case_of(app, number=number).status == "review_requested"
    assert "补充复查理由" in _last_to(app, "zhao@example.org", number)
    assert (
        len(
            [m for m in mails_to(app, COMPLAINANT, number) if "复查申请已收到" in str(m["Subject"])]
        )
        == 1
    )


def test_rating_is_recorded_without_a_reply(app: App) -> None:
    number = _resolved(app)
    before = len(mails_to(app, COMPLAINANT, number))
    outcome = complainant_reply(app, number, "非常满意，谢谢！")
    assert case_of(app, number=number).satisfaction == 5
    assert outcome.outbound_ids == [] and len(mails_to(app, COMPLAINANT, number)) == before
    assert events(app, number, "satisfaction_recorded")[0].detail["score"] == 5


def test_withdrawal_before_the_result(app: App) -> None:
    number = open_complaint(app)
    staff_reply(app, number, "#受理\n")
    complainant_reply(app, number, "问题已经和商家协商解决了，我要撤回投诉。")
    case = case_of(app, number=number)
    assert case.status == "withdrawn" and case.closed_at is not None
    assert "已撤回" in _last_to(app, COMPLAINANT, number)
    assert "投诉人撤回了投诉" in _last_to(app, "zhao@example.org", number)


def test_withdrawal_after_the_result_changes_nothing_but_staff_are_told(app: App) -> None:
    number = _resolved(app)
    complainant_reply(app, number, "我想撤回投诉")
    assert case_of(app, number=number).status == "resolved"
    assert "处理结果已发出，无法自动撤回" in _last_to(app, "zhao@example.org", number)


def test_information_supplied_resumes_the_case(app: App) -> None:
    number = open_complaint(app)
    staff_reply(app, number, "#补充材料\n\n请提供订单号。")
    complainant_reply(app, number, "订单号是 20261122-8812，照片见附件。")
    assert case_of(app, number=number).status == "received"
    notice = _last_to(app, "zhao@example.org", number)
    assert "投诉人补充了材料" in notice and "20261122-8812" in notice


def test_other_mail_goes_to_the_assignee_only(app: App) -> None:
    number = open_complaint(app)
    staff_reply(app, number, "#assign li\n")
    zhao_before = len(mails_to(app, "zhao@example.org", number))
    complainant_reply(app, number, "请问现在处理到哪一步了？")
    assert "请问现在处理到哪一步了" in _last_to(app, "li@example.org", number)
    assert len(mails_to(app, "zhao@example.org", number)) == zhao_before


def test_after_the_final_review_the_decision_is_final(app: App) -> None:
    number = _resolved(app)
    complainant_reply(app, number, "我对结果不满意，申请复查。")
    staff_reply(app, number, "#复查受理\n")
    staff_reply(app, number, "#复查结论\n\n经复查，维持原处理结果。")
    final = mails_to(app, COMPLAINANT, number)[-1]
    assert "经复查，维持原处理结果" in text_of(final) and "最终结论" in text_of(final)
    case = case_of(app, number=number)
    assert case.status == "review_resolved" and case.review_decided_at is not None
    complainant_reply(app, number, "我还是不服，要求重新处理，再申请一次复查！")
    assert case_of(app, number=number).status == "review_resolved"
    answer = mails_to(app, COMPLAINANT, number)[-1]
    assert "不再重新处理或复查" in text_of(answer)
    assert answer["Auto-Submitted"] == "auto-replied"
    set_case(app, number, status="closed")  # closed after the call-back: still final
    complainant_reply(app, number, "为什么不给我重新处理？")
    assert case_of(app, number=number).status == "closed"
    assert "不再重新处理或复查" in _last_to(app, COMPLAINANT, number)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("同意", True),
        ("您好：\n同意延期。", True),
        ("可以，没问题", True),
        ("OK", True),
        ("I agree.", True),
        ("Yes, that is fine", True),
        ("No problem", True),
        ("不同意", False),
        ("我不同意延期，已经等很久了", False),
        ("I disagree", False),
        ("No, I do not agree.", False),
        ("请问为什么要延期这么久？商家到底怎么说的，能不能先给我一个答复", None),
        ("订单号 123", None),
        ("可以告诉我为什么要延期吗？", None),
        ("OK, but why?", None),
    ],
)
def test_consent_answer(text: str, answer: bool | None) -> None:
    assert consent_answer(text) is answer


# -- a reply to the result with reasons, and the review right after an early close ---------


def _in_review(app: App, number: str) -> str:
    """Asserts what the complainant and staff see when a review opens; the ack's text."""
    case = case_of(app, number=number)
    assert case.status == "review_requested" and case.closed_at is None
    ack = mails_to(app, COMPLAINANT, number)[-1]
    assert "复查申请已收到" in str(ack["Subject"])
    assert "当前阶段：已申请复查" in text_of(ack)
    return text_of(ack)


@pytest.mark.parametrize(
    "reply",
    [
        "不满意，商家到现在都没有退款，请尽快处理。",
        "The decision is wrong: the shop never refunded me.",
        "商家根本没有退款，只退了一半运费，订单号 20261122-8812。",
    ],
)
def test_a_reply_to_the_result_giving_reasons_opens_the_review(app: App, reply: str) -> None:
    number = _resolved(app)
    complainant_reply(app, number, reply)
    _in_review(app, number)
    assert "投诉人在期限内申请复查" in _last_to(app, "zhao@example.org", number)


def test_a_fresh_mail_with_the_case_number_asks_to_confirm_then_opens_the_review(
    app: App,
) -> None:
    # No In-Reply-To, no signed address: the subject tag ties it to the case, the window is
    # open, but anyone can write that From and number (issue 11 item 10): confirm first.
    number = _resolved(app)
    feed(app, _unsigned(app, number, "我不认可这个处理结果，商家提供的检测报告是假的。"))
    assert case_of(app, number=number).status == "resolved"
    asked = mails_to(app, COMPLAINANT, number)[-1]
    assert "请确认您的要求：申请复查" in str(asked["Subject"])
    complainant_reply(app, number, "我不认可这个处理结果，商家提供的检测报告是假的，申请复查。")
    _in_review(app, number)


@pytest.mark.parametrize("reply", ["谢谢，已收到退款。", "5分", "收到"])
def test_thanks_or_a_rating_on_the_result_opens_no_review(app: App, reply: str) -> None:
    number = _resolved(app)
    before = len(mails_to(app, COMPLAINANT, number))
    complainant_reply(app, number, reply)
    assert case_of(app, number=number).status == "resolved"
    assert len(mails_to(app, COMPLAINANT, number)) == before


def test_reasons_after_the_window_are_filed_for_staff_not_refused(app: App) -> None:
    # Only an explicit request gets the "window closed" answer; a story goes to staff.
    number = _resolved(app)
    sent = case_of(app, number=number).result_sent_at
    before = len(mails_to(app, COMPLAINANT, number))
    complainant_reply(app, number, "商家到现在都没有退款。", at=sent + timedelta(days=14))
    assert case_of(app, number=number).status == "resolved"
    assert len(mails_to(app, COMPLAINANT, number)) == before
    assert "商家到现在都没有退款" in _last_to(app, "zhao@example.org", number)


def test_the_window_closed_answer_says_no_date_is_left(app: App) -> None:
    number = _resolved(app)
    sent = case_of(app, number=number).result_sent_at
    complainant_reply(app, number, "我申请复查。", at=sent + timedelta(days=14))
    closed = _last_to(app, COMPLAINANT, number)
    assert f"案件编号：{number}" in closed and "当前阶段：已办结" in closed
    assert "下一时间节点：无，申请复查的期限已过；如有新的问题，请发送新的邮件" in closed


def test_a_timely_request_after_staff_closed_early_opens_the_review(app: App) -> None:
    number = _resolved(app)
    staff_reply(app, number, "#结案\n")
    sent = case_of(app, number=number).result_sent_at
    window_end = app.calendar.add_working_days(sent, 5)
    closing = _last_to(app, COMPLAINANT, number)
    # The closing mail still names the last day to ask for a review.
    assert "当前阶段：已结案" in closing
    assert app.calendar.format_date(window_end, "zh-CN") + "（申请复查的截止日期）" in closing
    transcript = _last_to(app, "zhao@example.org", number)
    assert "期内投诉人申请复查的，案件将进入复查" in transcript and "#结案 记录" in transcript
    outcome = complainant_reply(app, number, "我不服，申请复查。", at=sent + timedelta(hours=2))
    assert "收到您对案件" in _in_review(app, number)
    assert "案件此前已结案" in _last_to(app, "zhao@example.org", number)
    assert len(outcome.outbound_ids) == 3  # the acknowledgement, zhao and li
    changed = events(app, number, "status_changed")[-1]
    assert (changed.from_status, changed.to_status) == ("closed", "review_requested")
    assert changed.actor == COMPLAINANT and changed.detail["trigger"] == "request_review"


def test_a_request_received_in_time_but_processed_after_the_scheduler_closed(app: App) -> None:
    number = _resolved(app)
    sent = case_of(app, number=number).result_sent_at
    window_end = app.calendar.add_working_days(sent, 5)
    with session_scope(app.db_url) as s:  # the scheduler's tick came first
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        system_transition(s, app, case, Trigger.CLOSE, window_end + timedelta(seconds=30))
    # The mail arrived a minute before the window ended; the workers read it after the tick.
    complainant_reply(
        app,
        number,
        "The decision is wrong: the shop never refunded me.",
        at=window_end - timedelta(minutes=1),
    )
    _in_review(app, number)
    assert case_of(app, number=number).review_requested_at == window_end - timedelta(minutes=1)
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        kinds = {
            d.kind: d.state
            for d in s.execute(select(Deadline).where(Deadline.case_id == case.id)).scalars()
        }
    assert kinds["callback"] == "cancelled" and kinds["review_ack"] == "pending"


def test_a_request_after_a_close_and_after_the_window_is_late(app: App) -> None:
    number = _resolved(app)
    staff_reply(app, number, "#结案\n")
    sent = case_of(app, number=number).result_sent_at
    complainant_reply(app, number, "我申请复查。", at=sent + timedelta(days=14))
    assert case_of(app, number=number).status == "closed"
    assert "届满" in _last_to(app, COMPLAINANT, number)
    assert events(app, number, "review_request_late")


def test_the_complainants_rating_after_closing_is_the_call_back(app: App) -> None:
    number = _resolved(app)
    staff_reply(app, number, "#结案\n")
    complainant_reply(app, number, "非常满意")
    assert case_of(app, number=number).satisfaction == 5
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        callback = s.execute(
            select(Deadline).where(Deadline.case_id == case.id, Deadline.kind == "callback")
        ).scalar_one()
    assert callback.state == "met"


# -- issue 11 item 10: a forged complainant mail changes nothing -----------------------------


def _unsigned(app: App, number: str, body: str, **kw: object) -> bytes:
    """A mail with the complainant's From and the case tag, to the plain intake address."""
    return build_mail(
        f"王先生 <{COMPLAINANT}>",
        app.settings.intake_address,
        f"Re: [{number}] 手机屏幕坏点商家拒绝退货",
        body,
        **kw,  # type: ignore[arg-type]
    )


def _asked_to_confirm(app: App, number: str, before: int, wanted: str) -> None:
    sent = mails_to(app, COMPLAINANT, number)[before:]
    assert len(sent) == 1, [m["Subject"] for m in sent]
    asked = sent[0]
    assert asked["To"].addresses[0].addr_spec == COMPLAINANT  # the case's address
    token = read_reply_address(
        asked["Reply-To"].addresses[0].addr_spec, app.settings.intake_address, app.secret
    )
    assert token is not None and token.case_number == number and token.staff_id is None
    assert "没有任何改变" in text_of(asked)
    logged = events(app, number, "confirmation_requested")
    assert logged and logged[-1].detail["wanted"] == wanted


def test_a_forged_withdrawal_changes_nothing_and_the_complainant_is_asked(app: App) -> None:
    number = open_complaint(app)
    staff_reply(app, number, "#accept\n")
    before = len(mails_to(app, COMPLAINANT, number))
    feed(app, _unsigned(app, number, "我要撤回投诉，不需要处理了。"))
    case = case_of(app, number=number)
    assert case.status == "accepted" and case.closed_at is None
    _asked_to_confirm(app, number, before, "withdraw")
    assert "待确认" in str(mails_to(app, "zhao@example.org", number)[-1]["Subject"])
    # Threaded on our own mail but still not to the signed address: the same.
    ours = mails_to(app, COMPLAINANT, number)[-1]["Message-ID"].strip("<>")
    feed(app, _unsigned(app, number, "我要撤回投诉。", in_reply_to=ours))
    assert case_of(app, number=number).status == "accepted"
    # The complainant confirms by replying to our mail (its signed Reply-To): withdrawn.
    complainant_reply(app, number, "确认，我要撤回投诉。")
    assert case_of(app, number=number).status == "withdrawn"


def test_a_forged_rating_and_extension_answer_change_nothing(app: App) -> None:
    number = _resolved(app)
    feed(app, _unsigned(app, number, "非常满意，5分"))
    assert case_of(app, number=number).satisfaction is None
    number = open_complaint(app)
    staff_reply(app, number, "#accept\n#延期 5 需要商家提供检测报告\n")
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        due = [
            d.due_at
            for d in s.execute(select(Deadline).where(Deadline.case_id == case.id)).scalars()
        ]
    feed(app, _unsigned(app, number, "同意"))
    assert events(app, number, "extension_answered") == []
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        assert due == [
            d.due_at
            for d in s.execute(select(Deadline).where(Deadline.case_id == case.id)).scalars()
        ]
    assert events(app, number, "confirmation_requested")[-1].detail["wanted"] == (
        "answer_extension"
    )


def test_a_trusted_authentication_pass_counts_like_the_signed_address(app: App) -> None:
    auth = app.policy.staff_auth.model_copy(update={"trusted_authserv_ids": ["mx.example.org"]})
    app = replace(app, policy=app.policy.model_copy(update={"staff_auth": auth}))
    number = open_complaint(app)
    passed = "mx.example.org; dmarc=pass header.from=example.net"
    forged = "example.net; dmarc=pass header.from=example.net"
    feed(app, _unsigned(app, number, "我要撤回投诉。", headers={"Authentication-Results": forged}))
    assert case_of(app, number=number).status == "received"
    feed(app, _unsigned(app, number, "我要撤回投诉。", headers={"Authentication-Results": passed}))
    assert case_of(app, number=number).status == "withdrawn"


def test_staff_can_reopen_a_withdrawn_case(app: App) -> None:
    number = open_complaint(app)
    complainant_reply(app, number, "我要撤回投诉。")
    assert case_of(app, number=number).status == "withdrawn"
    staff_reply(app, number, "#reopen 撤回不是投诉人本人所为\n")
    case = case_of(app, number=number)
    assert case.status == "accepted" and case.closed_at is None
    assert "投诉已重新办理" in str(mails_to(app, COMPLAINANT, number)[-1]["Subject"])
    staff_reply(app, number, "#重开\n")  # the Chinese spelling still parses (refused: open)
    assert case_of(app, number=number).status == "accepted"
