"""Staff command mail: what the staff member and the complainant receive, what the case
becomes, and that forged staff mail runs nothing and is on the record."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from config.policy_auth import StaffAuthPolicy
from models import Case, Deadline, Event, OutboundEmail
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
    staff_reply,
    text_of,
)
from tests.unit.staffcommands import HELP_TEXT
from workers.app import App
from workers.casework.staff_auth import authorize, parse_authentication_results
from workers.intake.correlate import Correlation
from workers.mail.parse import parse_mail
from workers.mail.tokens import read_reply_address, reply_address, sign

RESULT = "经核实，商家同意退货并全额退款 2999 元，款项将在 3 个工作日内原路退回。"


def _transcript(app: App, staff: str = "zhao@example.org") -> str:
    return text_of(mails_to(app, staff)[-1])


def test_accept_severity_note_resolve(app: App) -> None:
    number = open_complaint(app)
    body = (
        f"#accept\n#severity important\n#note called the merchant, refund agreed\n#办结\n\n{RESULT}"
    )
    outcome = staff_reply(app, number, body)
    case = case_of(app, number=number)
    assert case.status == "resolved" and case.result_sent_at is not None
    assert (case.severity, case.severity_set_by) == ("important", "zhao")
    to_complainant = mails_to(app, COMPLAINANT, number)
    acceptance, result = to_complainant[-2:]
    complaint_id = events(app, number, "case_opened")[0].detail["message_id"]
    for mail in (acceptance, result):
        assert mail["In-Reply-To"] == f"<{complaint_id}>"  # threaded on their complaint
        assert mail["Auto-Submitted"] is None  # a person decided it
        assert mail["Subject"].startswith(f"[{number}] ")
        assert "called the merchant" not in text_of(mail)  # notes stay internal
    assert "已予受理" in text_of(acceptance)
    text = text_of(result)
    review_by = app.calendar.add_working_days(case.result_sent_at, 5)
    assert RESULT in text and "5 个工作日内" in text
    assert app.calendar.format_date(review_by, "zh-CN") in text
    assert f"案件编号：{number}" in text and "当前阶段：已办结" in text
    transcript = _transcript(app)
    assert transcript.count("→ ok") == 4 and "状态：已办结" in transcript
    staff_mail = mails_to(app, "zhao@example.org")[-1]
    assert staff_mail["Reply-To"] == reply_address(
        app.settings.intake_address, app.secret, number, "zhao"
    )
    assert len(outcome.outbound_ids) == 3
    note = events(app, number, "note")[0]
    assert note.actor == "zhao" and note.detail["text"] == "called the merchant, refund agreed"
    logged = events(app, number, "staff_commands")[0].detail
    assert [c["ok"] for c in logged["commands"]] == [True] * 4 and logged["state"] == "resolved"


def test_refused_commands_are_explained_and_the_rest_still_run(app: App) -> None:
    number = open_complaint(app)
    staff_reply(app, number, "#review-result 维持原结论\n#frobnicate\n#受理\n#severity huge\n")
    assert case_of(app, number=number).status == "accepted"
    transcript = _transcript(app)
    assert "#review-result 维持原结论\n    → 未执行：投诉人没有申请复查" in transcript
    assert "#frobnicate\n    → 未执行：未知命令 #frobnicate" in transcript
    assert "#受理\n    → ok" in transcript
    assert "未知级别「huge」" in transcript
    logged = events(app, number, "staff_commands")[0].detail["commands"]
    assert [c["ok"] for c in logged] == [False, False, True, False]


def test_english_staff_mail_gets_an_english_transcript(app: App) -> None:
    number = open_complaint(app)
    staff_reply(app, number, "#resolve\n\nThe merchant refunded you in full.\n")
    transcript = _transcript(app)
    assert (
        "#resolve\n    -> ok: received → accepted (under investigation) → resolved;" in transcript
    )
    assert "result with the review notice sent to the complainant" in transcript


def test_help_and_status(app: App) -> None:
    number = open_complaint(app)
    outcome = staff_reply(app, number, "#帮助\n#状态\n")
    assert len(outcome.outbound_ids) == 1  # only the transcript
    transcript = _transcript(app)
    assert HELP_TEXT["zh-CN"] in transcript and "状态：已收到" in transcript


def test_reply_need_info_and_reject_send_the_text(app: App) -> None:
    number = open_complaint(app)
    staff_reply(app, number, "#回复\n\n您好，我们已联系商家，请耐心等待。")
    staff_reply(app, number, "#need-info\n\n请提供订单号和坏点照片。")
    case = case_of(app, number=number)
    assert case.status == "awaiting_info" and case.first_response_at is not None
    progress, need_info = mails_to(app, COMPLAINANT, number)[-2:]
    assert "我们已联系商家" in text_of(progress)
    assert "请提供订单号和坏点照片" in text_of(need_info)
    due = app.calendar.add_working_days(case.received_at, 10)
    assert app.calendar.format_date(due, "zh-CN") in text_of(need_info)
    staff_reply(app, number, "#不予受理 无具体事实 您未提供订单信息。")
    rejected = mails_to(app, COMPLAINANT, number)[-1]
    assert "理由：投诉缺少具体的事实和理由" in text_of(rejected)
    assert "您未提供订单信息" in text_of(rejected)
    assert case_of(app, number=number).closed_at is not None


def test_assign_category_merge_malicious(app: App) -> None:
    first = open_complaint(app)
    number = open_complaint(app, subject="又一次投诉", body="商家辱骂我，态度恶劣。")
    staff_reply(
        app,
        number,
        f"#assign li\n#category staff_behaviour\n#merge {first}\n"
        "#merge TS-2026-999999\n#恶意投诉 重复骚扰\n",
    )
    case = case_of(app, number=number)
    assert (case.assignee, case.assigned_group) == ("li", "intake")
    assert (case.category, case.category_set_by) == ("staff_behaviour", "zhao")
    assert case.merged_into == first and case.malicious
    assert "转给您办理" in text_of(mails_to(app, "li@example.org")[-1])
    assert events(app, first, "case_merged")[0].detail == {"from": number}
    assert events(app, number, "marked_malicious")[0].detail["reason"] == "重复骚扰"
    assert "没有案件 TS-2026-999999" in _transcript(app)
    staff_reply(app, number, "#assign nobody\n")
    assert "没有小组或工作人员「nobody」" in _transcript(app)


def _decision_due(app: App, number: str):
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        return s.execute(
            select(Deadline.due_at).where(Deadline.case_id == case.id, Deadline.kind == "decision")
        ).scalar_one()


def test_extension_waits_for_the_complainants_consent(app: App) -> None:
    number = open_complaint(app)
    staff_reply(app, number, "#accept\n")
    before = _decision_due(app, number)
    staff_reply(app, number, "#延期 3 等待物流公司出具检测报告\n")
    assert _decision_due(app, number) == before  # not before they agree
    request = mails_to(app, COMPLAINANT, number)[-1]
    assert "等待物流公司出具检测报告" in text_of(request) and "同意" in text_of(request)
    assert "待投诉人同意后期限顺延 3 个工作日" in _transcript(app)
    complainant_reply(app, number, "同意延期，但请尽快处理。")
    after = _decision_due(app, number)
    assert after == app.calendar.add_working_days(before, 3)
    answer = mails_to(app, COMPLAINANT, number)[-1]
    assert app.calendar.format_date(after, "zh-CN") in text_of(answer)
    assert "投诉人同意延期 3 个工作日" in text_of(mails_to(app, "zhao@example.org")[-1])
    complainant_reply(app, number, "同意")  # nothing pending any more: just filed
    assert _decision_due(app, number) == after


def test_declined_extension_keeps_the_date(app: App) -> None:
    number = open_complaint(app)
    staff_reply(app, number, "#accept\n")
    before = _decision_due(app, number)
    staff_reply(app, number, "#extend 5 waiting for the courier's report\n")
    complainant_reply(app, number, "不同意，已经等了很久了。")
    assert _decision_due(app, number) == before
    assert events(app, number, "extension_answered")[0].detail["agreed"] is False
    assert "不同意延长" in text_of(mails_to(app, COMPLAINANT, number)[-1])


def test_extension_without_consent_moves_at_once(app: App) -> None:
    app.policy.sla.extension_needs_consent = False
    number = open_complaint(app)
    staff_reply(app, number, "#accept\n")
    before = _decision_due(app, number)
    staff_reply(app, number, "#延期 2 需要技术部门检测\n")
    assert _decision_due(app, number) == app.calendar.add_working_days(before, 2)
    notice = text_of(mails_to(app, COMPLAINANT, number)[-1])
    assert "办理期限已相应延长" in notice and "回复本邮件“同意”" not in notice


def test_extension_refused_without_a_running_decision(app: App) -> None:
    number = open_complaint(app)
    staff_reply(app, number, "#延期 3 等待材料\n")
    assert "没有正在计时的处理决定期限" in _transcript(app)
    assert len(mails_to(app, COMPLAINANT, number)) == 1  # the acknowledgement only


def test_rerun_never_mails_twice(app: App) -> None:
    from models import RawMessage
    from workers.casework.follow_up import react_to_follow_up

    number = open_complaint(app)
    outcome = staff_reply(app, number, f"#resolve\n\n{RESULT}")
    with session_scope(app.db_url) as s:
        raw = s.execute(select(RawMessage).order_by(RawMessage.id.desc()).limit(1)).scalar_one()
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        case.status = "accepted"  # as if the first run had been rolled back halfway
        again = react_to_follow_up(
            s, app, Correlation(case, "token", "zhao"), parse_mail(raw.raw), raw
        )
    assert set(again) <= set(outcome.outbound_ids)


# -- who may run commands ---------------------------------------------------------------------


def _unchanged(app: App, number: str, refusals: int) -> list[Event]:
    case = case_of(app, number=number)
    assert case.status == "received" and case.result_sent_at is None
    assert len(mails_to(app, COMPLAINANT, number)) == 1  # the acknowledgement only
    logged = events(app, number, "staff_auth_refused")
    assert len(logged) == refusals
    return logged


def test_right_from_without_a_token_runs_nothing(app: App) -> None:
    number = open_complaint(app)
    staff_reply(app, number, f"#resolve\n\n{RESULT}", to=app.settings.intake_address)
    refusal = _unchanged(app, number, 1)[0]
    assert refusal.detail["code"] == "no_token" and refusal.detail["commands"] == ["#resolve"]
    told = _transcript(app)
    assert "命令没有执行" in told and "没有发往您本人的签名回复地址" in told


def test_bad_or_borrowed_tokens_run_nothing(app: App) -> None:
    number = open_complaint(app)
    other = open_complaint(app, subject="另一个投诉")
    intake, secret = app.settings.intake_address, app.secret
    zhao_other = reply_address(intake, secret, other, "zhao")
    edited = zhao_other.replace(other, number)  # the number edited, the signature kept
    staff_reply(app, number, "#accept\n", to=edited)
    staff_reply(app, number, "#accept\n", to=reply_address(intake, secret, number, "li"))
    staff_reply(app, number, "#accept\n", to=reply_address(intake, secret, number))
    codes = [e.detail["code"] for e in _unchanged(app, number, 3)]
    assert codes == ["bad_token", "other_staff_token", "complainant_token"]
    assert case_of(app, number=other).status == "received"


def test_display_name_trick_runs_nothing_and_gets_no_mail(app: App) -> None:
    number = open_complaint(app)
    token = reply_address(app.settings.intake_address, app.secret, number, "zhao")
    staff_reply(
        app,
        number,
        f"#resolve\n\n{RESULT}",
        to=token,
        frm='"zhao@example.org" <evil@attacker.example>',
    )
    refusal = _unchanged(app, number, 1)[0]
    assert (
        refusal.detail["code"] == "impostor" and refusal.detail["from"] == "evil@attacker.example"
    )
    assert mails_to(app, "evil@attacker.example") == []
    assert mails_to(app, "zhao@example.org") == []


def test_complainant_hash_lines_are_just_text(app: App) -> None:
    number = open_complaint(app)
    complainant_reply(app, number, "#resolve\n#close\n我还没有收到退款。")
    assert case_of(app, number=number).status == "received"
    assert events(app, number, "staff_auth_refused") == []
    assert "#resolve" in text_of(mails_to(app, "zhao@example.org")[-1])  # staff were told


def trusting(app: App, *ids: str) -> App:
    """The app with `[staff_auth] trusted_authserv_ids` naming our receiving servers."""
    auth = app.policy.staff_auth.model_copy(update={"trusted_authserv_ids": list(ids)})
    return replace(app, policy=app.policy.model_copy(update={"staff_auth": auth}))


AR_PASS = "mx.example.org; dkim=pass (2048-bit key) header.d=example.org header.s=s1; spf=pass smtp.mailfrom=zhao@example.org"


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Authentication-Results": AR_PASS}, True),
        ({"Authentication-Results": "mx.example.org; dmarc=pass header.from=example.org"}, True),
        # The intake domain is not trusted unless named.
        ({"Authentication-Results": "example.org; dmarc=pass header.from=example.org"}, False),
        (
            {
                "Authentication-Results": "mx.example.org; dkim=fail header.d=example.org; spf=softfail"
            },
            False,
        ),
        ({"Authentication-Results": "mx.attacker.example; dkim=pass header.d=example.org"}, False),
        ({"Authentication-Results": "mx.example.org; dkim=pass header.d=attacker.example"}, False),
        ({"Authentication-Results": "mx.example.org; dkim=pass header.d=evil.example.org"}, False),
        ({}, False),
    ],
)
def test_plain_intake_address_needs_a_trusted_authentication_result(
    app: App, headers: dict[str, str], allowed: bool
) -> None:
    app = trusting(app, "mx.example.org")
    number = open_complaint(app)
    staff_reply(
        app,
        number,
        "#accept\n",
        to=app.settings.intake_address,
        subject=f"Re: [{number}] 新投诉",
        headers=headers,
    )
    assert case_of(app, number=number).status == ("accepted" if allowed else "received")
    assert len(events(app, number, "staff_auth_refused")) == (0 if allowed else 1)


def test_a_forged_header_below_ours_is_not_read(app: App) -> None:
    app = trusting(app, "mx.example.org")
    number = open_complaint(app)
    raw = build_mail(
        "赵主管 <zhao@example.org>",
        app.settings.intake_address,
        f"Re: [{number}] 新投诉",
        "#accept\n",
        headers={"Authentication-Results": "mx.example.org; spf=fail"},
    )
    # The sender's own header comes after (below) the one our server prepended.
    raw = raw.replace(
        b"\nMIME-Version", b"\nAuthentication-Results: " + AR_PASS.encode() + b"\nMIME-Version", 1
    )
    feed(app, raw)
    _unchanged(app, number, 1)


def _to_intake(app: App, number: str, *ar_headers: str) -> bytes:
    raw = build_mail(
        "赵主管 <zhao@example.org>",
        app.settings.intake_address,
        f"Re: [{number}] 新投诉",
        "#accept\n",
    )
    # Prepended in order, as receiving servers do: the last one given ends up on top.
    for value in ar_headers:
        raw = b"Authentication-Results: " + value.encode() + b"\r\n" + raw
    return raw


def test_no_authserv_id_named_means_no_header_is_trusted(app: App) -> None:
    """Issue 11 item 8: with no trusted authserv-id, the intake-address route is off: a header
    the sender wrote naming the intake domain (or mx.<domain>) authenticates nothing."""
    number = open_complaint(app)
    for server in ("example.org", "mx.example.org"):
        feed(app, _to_intake(app, number, f"{server}; dmarc=pass header.from=example.org"))
    refusals = _unchanged(app, number, 2)
    assert {r.detail["code"] for r in refusals} == {"no_token"}
    assert "trusted_authserv_ids" in refusals[0].detail["reason"]


def test_our_header_counts_wherever_it_sits_and_others_never(app: App) -> None:
    """Issue 11 item 8: every header is read; only a named authserv-id counts, below another
    server's header too; the topmost header of our id is ours (the MTA strips forged ones)."""
    app = trusting(app, "mx.example.org")
    number = open_complaint(app)
    ours = "mx.example.org; dkim=pass header.d=example.org"
    filtered = "filter.example.org; dkim=pass header.d=example.org"
    feed(app, _to_intake(app, number, filtered))  # a server not named: nothing
    _unchanged(app, number, 1)
    feed(app, _to_intake(app, number, ours, "relay.example.org; none"))
    assert case_of(app, number=number).status == "accepted"


def test_authorize_pure_cases(app: App) -> None:
    number = open_complaint(app)
    case = case_of(app, number=number)
    token = reply_address(app.settings.intake_address, app.secret, number, "zhao")

    def verdict(headers: str, method: str = "token", staff_id: str | None = "zhao") -> str:
        mail = parse_mail((headers + "\r\nSubject: x\r\n\r\n#accept\r\n").encode())
        return authorize(
            mail,
            Correlation(case, method, staff_id),
            app.policy.staff,
            StaffAuthPolicy(),
            intake_address=app.settings.intake_address,
            secret=app.secret,
            case_prefix="TS",
        ).code

    assert verdict(f"From: zhao@example.org\r\nTo: {token}") == "ok_token"
    assert verdict(f"From: zhao@example.org, evil@x.example\r\nTo: {token}") == "several_senders"
    assert (
        verdict(f"From: zhao@example.org\r\nTo: {token}\r\nAuto-Submitted: auto-replied")
        == "auto_generated"
    )
    assert verdict(f"From: someone@x.example\r\nTo: {token}") == "not_staff"


def test_parse_authentication_results() -> None:
    server, results = parse_authentication_results(
        'MX.Example.org 1; dkim=pass (good signature) header.d=example.org header.b="abc;"; '
        "spf=none smtp.mailfrom=x@y.example; dmarc=pass header.from=example.org"
    )
    assert server == "mx.example.org"
    assert [(r.method, r.result) for r in results] == [
        ("dkim", "pass"),
        ("spf", "none"),
        ("dmarc", "pass"),
    ]
    assert results[0].props["header.d"] == "example.org"
    assert parse_authentication_results("mx.example.org; none") == ("mx.example.org", [])


def test_transcript_is_in_case_show(app: App) -> None:
    from workers.ops.case_views import case_detail
    from workers.ops.text_tables import format_case

    number = open_complaint(app)
    staff_reply(app, number, "#accept\n#review-accept\n")
    with session_scope(app.db_url) as s:
        shown = format_case(case_detail(s, number))
    assert "staff_commands" in shown
    assert "#accept  → ok" in shown and "#review-accept  → refused: " in shown


def test_staff_raising_severity_to_major_tells_the_leadership_group_once(app: App) -> None:
    number = open_complaint(app)
    staff_reply(app, number, "#severity major\n\n媒体已经在报道此事。")
    staff_reply(app, number, "#severity major\n\n再次确认。")
    leaders = [s.email for s in app.policy.staff if "leadership" in s.groups]
    for address in leaders:
        notices = [m for m in mails_to(app, address, number) if "重大投诉报告" in m["Subject"]]
        assert len(notices) == 1, address
    assert case_of(app, number=number).severity == "major"


def _roles(app: App, number: str) -> list[tuple[str, str]]:
    from models import Message

    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        return [
            (m.from_addr, m.role)
            for m in s.execute(
                select(Message)
                .where(Message.case_id == case.id, Message.direction == "in")
                .order_by(Message.id)
            ).scalars()
        ]


def test_the_history_calls_mail_staff_only_when_staff_authentication_passed(app: App) -> None:
    """A staff From without its token is on the case as "other", not as staff speaking."""
    number = open_complaint(app)
    staff_reply(app, number, "#note forged\n", to=app.settings.intake_address)  # no token
    staff_reply(app, number, "#note checked the router logs\n")  # zhao's signed reply address
    complainant_reply(app, number, "补充：路由器型号 TL-WR841N。")

    assert _roles(app, number) == [
        (COMPLAINANT, "complainant"),
        ("zhao@example.org", "other"),
        ("zhao@example.org", "staff"),
        (COMPLAINANT, "complainant"),
    ]


def test_reopening_a_closed_case_tells_the_complainant(app: App) -> None:
    number = open_complaint(app)
    staff_reply(app, number, f"#resolve\n\n{RESULT}")
    staff_reply(app, number, "#close\n")
    staff_reply(app, number, "#reopen\n\n经回访，您反映的问题仍未解决，我们将重新核查。")

    assert case_of(app, number=number).status == "accepted"
    reopened = mails_to(app, COMPLAINANT, number)[-1]
    assert reopened["Subject"].startswith(f"[{number}] 投诉已重新办理")
    text = text_of(reopened)
    assert "已重新进入调查处理" in text and "经回访，您反映的问题仍未解决" in text
    assert reopened["Auto-Submitted"] is None  # a person decided it
    assert "重新办理通知" in _transcript(app)


def test_consent_given_on_the_phone_is_recorded_by_staff(app: App) -> None:
    number = open_complaint(app)
    staff_reply(app, number, "#accept\n")
    before = _decision_due(app, number)
    staff_reply(app, number, "#同意延期 电话确认\n")  # nothing asked yet
    assert "没有等待投诉人答复的延期申请" in _transcript(app)
    staff_reply(app, number, "#延期 3 等待物流公司出具检测报告\n")

    staff_reply(app, number, "#consent phoned 10:05, agreed\n")

    after = _decision_due(app, number)
    assert after == app.calendar.add_working_days(before, 3)
    confirmation = mails_to(app, COMPLAINANT, number)[-1]
    assert app.calendar.format_date(after, "zh-CN") in text_of(confirmation)
    answered = events(app, number, "extension_answered")[0]
    assert answered.actor == "zhao" and answered.detail["how"] == "phoned 10:05, agreed"
    assert answered.detail["agreed"] is True and answered.detail["recorded_by"] == "zhao"
    assert "延期确认" in _transcript(app)
    complainant_reply(app, number, "同意")  # the request is answered: nothing moves again
    assert _decision_due(app, number) == after


# -- nothing more to the complainant of a finished case; merge targets ---------------------


def _finished(app: App, how: str) -> str:
    number = open_complaint(app)
    if how == "withdrawn":
        complainant_reply(app, number, "我要撤回投诉")
    elif how == "closed":
        staff_reply(app, number, f"#resolve\n#close\n\n{RESULT}")
    elif how == "not_accepted":
        staff_reply(app, number, "#不予受理 无具体事实\n")
    elif how == "review_resolved":
        staff_reply(app, number, f"#resolve\n\n{RESULT}")
        complainant_reply(app, number, "我不服，申请复查。")
        staff_reply(app, number, "#复查受理\n#复查结论\n\n经复查，维持原处理结果。")
    return number


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("withdrawn", "投诉人已撤回投诉，案件不能再处理；如需继续处理，请先重开（#重开）。"),
        (
            "closed",
            "案件已结束（当前：已结案），不能发送进展答复；如需继续处理，请先重开（#重开）。",
        ),
        (
            "not_accepted",
            "案件已结束（当前：不予受理），不能发送进展答复；如需继续处理，请先重开（#重开）。",
        ),
        ("review_resolved", "复查结论为最终结论，不能发送进展答复。"),
    ],
)
def test_reply_on_a_finished_case_is_refused_and_sends_nothing(
    app: App, how: str, reason: str
) -> None:
    number = _finished(app, how)
    before = len(mails_to(app, COMPLAINANT, number))
    outcome = staff_reply(app, number, "#回复\n#补充材料\n#延期 3 等待检测\n\n我们正在处理。")
    assert len(mails_to(app, COMPLAINANT, number)) == before
    assert len(outcome.outbound_ids) == 1  # only the transcript
    transcript = _transcript(app)
    assert f"#回复\n    → 未执行：{reason}" in transcript
    logged = events(app, number, "staff_commands")[-1].detail["commands"]
    assert [c["ok"] for c in logged] == [False, False, False]


def test_reply_on_a_merged_case_is_refused_and_points_to_the_other_case(app: App) -> None:
    first = open_complaint(app)
    number = open_complaint(app, subject="又一次投诉", body="商家辱骂我，态度恶劣。")
    staff_reply(app, number, f"#merge {first}\n#reply\n\n我们已将您的投诉并案处理。")
    assert case_of(app, number=number).merged_into == first
    assert "我们已将您的投诉" not in "".join(text_of(m) for m in mails_to(app, COMPLAINANT))
    transcript = _transcript(app)
    assert f"#merge {first}\n    → ok" in transcript
    assert (
        f"#reply\n    → 未执行：案件已并入 {first}，不能发送进展答复；请在 {first} 上处理。"
        in transcript
    )
    staff_reply(app, number, "#need-info\n#accept\n\n请提供订单号。")
    assert case_of(app, number=number).status == "accepted"  # what needs no text still runs
    assert "#need-info\n    → 未执行：案件已并入" in _transcript(app)


def test_merge_refuses_the_case_itself_a_merged_or_a_withdrawn_target(app: App) -> None:
    first = open_complaint(app)
    second = open_complaint(app, subject="第二次投诉", body="商家仍未处理，请尽快。")
    third = open_complaint(app, subject="第三次投诉", body="商家还是没有处理，请尽快。")
    withdrawn = open_complaint(app, subject="已撤回", body="商家辱骂我，态度恶劣。")
    complainant_reply(app, withdrawn, "我要撤回投诉")
    staff_reply(app, second, f"#merge {first}\n")
    staff_reply(app, third, f"#merge {third}\n#merge {second}\n#merge {withdrawn}\n")
    transcript = _transcript(app)
    assert "不能把案件并入它自己" in transcript
    assert f"案件 {second} 已并入 {first}，请并入 {first}。" in transcript
    assert f"案件 {withdrawn} 已被投诉人撤回，不能并入。" in transcript
    assert case_of(app, number=third).merged_into is None
    staff_reply(app, third, f"#merge {first}\n#merge {first}\n")
    assert case_of(app, number=third).merged_into == first
    assert f"本案件已并入 {first}。" in _transcript(app)


def test_resolve_records_the_result_notice_as_opened_and_met(app: App) -> None:
    number = open_complaint(app)
    staff_reply(app, number, f"#办结\n\n{RESULT}")
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        notice = s.execute(
            select(Deadline).where(Deadline.case_id == case.id, Deadline.kind == "result_notice")
        ).scalar_one()
        trail = [
            e.kind
            for e in s.execute(
                select(Event)
                .where(Event.case_id == case.id, Event.kind.like("deadline_%"))
                .order_by(Event.id)
            ).scalars()
            if e.detail.get("deadline") == "result_notice"
        ]
    assert notice.state == "met" and notice.closed_at == case.result_sent_at
    assert trail == ["deadline_opened", "deadline_met"]


# -- issue 11 item 9: a staff reply address is not a credential for ever ----------------------


def _issued_days_ago(app: App, number: str, days: int) -> str:
    today = datetime.now(UTC).date()
    return reply_address(
        app.settings.intake_address, app.secret, number, "zhao", issued=today - timedelta(days)
    )


def test_a_staff_reply_address_older_than_token_days_runs_nothing(app: App) -> None:
    """A notification forwarded long ago: its address no longer authenticates the From; the
    refusal goes to the staff member's own address from the policy, with a fresh address."""
    number = open_complaint(app)
    days = app.policy.staff_auth.token_days
    before = len(mails_to(app, "zhao@example.org"))
    staff_reply(app, number, "#accept\n", to=_issued_days_ago(app, number, days + 1))
    refusal = _unchanged(app, number, 1)[0]
    assert refusal.detail["code"] == "expired_token"
    answers = mails_to(app, "zhao@example.org")[before:]
    assert len(answers) == 1
    assert "已过期" in text_of(answers[0]) or "expired" in text_of(answers[0])
    fresh = read_reply_address(str(answers[0]["Reply-To"]), app.settings.intake_address, app.secret)
    assert fresh is not None and fresh.issued == datetime.now(UTC).date()
    # Replying to that refusal (its fresh address) works.
    staff_reply(app, number, "#accept\n", to=str(answers[0]["Reply-To"]))
    assert case_of(app, number=number).status == "accepted"


def test_a_staff_reply_address_within_token_days_works(app: App) -> None:
    number = open_complaint(app)
    days = app.policy.staff_auth.token_days
    staff_reply(app, number, "#accept\n", to=_issued_days_ago(app, number, days))
    assert case_of(app, number=number).status == "accepted"


def test_a_staff_address_of_the_old_form_is_filed_but_runs_nothing(app: App) -> None:
    number = open_complaint(app)
    local, _, domain = app.settings.intake_address.partition("@")
    old = f"{local}+{number}.zhao.{sign(app.secret, number, 'zhao')}@{domain}"
    outcome = staff_reply(app, number, "#accept\n", to=old)
    assert outcome.case_id == case_of(app, number=number).id  # still correlated by its token
    assert _unchanged(app, number, 1)[0].detail["code"] == "expired_token"


def test_a_forger_with_an_old_address_is_never_answered(app: App) -> None:
    """The forger writes a display name and a From that is zhao's; the answer goes to the
    address the policy holds for zhao, and nothing to any other address."""
    number = open_complaint(app)
    staff_reply(
        app,
        number,
        "#withdraw\n#close\n",
        to=_issued_days_ago(app, number, 400),
        frm="赵主管 <ZHAO@example.org>",
    )
    _unchanged(app, number, 1)
    with session_scope(app.db_url) as s:
        rows = s.execute(select(OutboundEmail.to_addr)).scalars().all()
    assert set(rows) <= {COMPLAINANT, "zhao@example.org", "li@example.org"}, rows
