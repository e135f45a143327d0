"""Every mail a complainant can receive, rendered in zh-CN and en, text and HTML: it names the
case, the stage the case is in, and the next date (or, for a finished case, that there is none),
and the HTML escapes whatever came from mail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from config.policy_calendar import SlaPolicy
from workers.casework.transitions import STATE_LABELS, State
from workers.outbound.render import TEMPLATES_DIR, render_reply

LANGUAGES = ("zh-CN", "en")
NUMBER = "TS-2026-000123"
HOSTILE = "<script>alert(1)</script>"
DATE = {"zh-CN": "2026年10月19日（星期一）", "en": "Monday, 19 October 2026"}
NEXT_WHAT = {
    "zh-CN": "我们下一次答复您的最迟日期",
    "en": "the latest date of our next answer to you",
}
# What the stage block says when no date is left (workers.outbound.letters and complainant_mail).
ENDED = {"zh-CN": "无，本案件已结束", "en": "none, this case has ended"}
FINAL = {"zh-CN": "无，复查结论为最终结论", "en": "none, the review result is final"}
WINDOW_PASSED = {
    "zh-CN": "无，申请复查的期限已过；如有新的问题，请发送新的邮件",
    "en": "none, the time to ask for a review has passed; for a new matter, please send a new mail",
}

# kind -> (the case's state when it is sent, the final statement or None for a date)
COMPLAINANT_MAIL: dict[str, tuple[State, dict[str, str] | None]] = {
    "acknowledgement": (State.RECEIVED, None),
    "acceptance": (State.ACCEPTED, None),
    "need_info": (State.AWAITING_INFO, None),
    "progress": (State.ACCEPTED, None),
    "extension_request": (State.ACCEPTED, None),
    "extension_answered": (State.ACCEPTED, None),
    "result": (State.RESOLVED, None),
    "review_ack": (State.REVIEW_REQUESTED, None),
    "case_closed_by_staff": (State.CLOSED, None),  # inside the window: the review deadline
    "case_reopened": (State.ACCEPTED, None),
    "not_accepted": (State.NOT_ACCEPTED, ENDED),
    "information_timeout": (State.NOT_ACCEPTED, ENDED),
    "withdrawal_confirmed": (State.WITHDRAWN, ENDED),
    "case_closed": (State.CLOSED, ENDED),
    "review_window_closed": (State.RESOLVED, WINDOW_PASSED),
    "review_result": (State.REVIEW_RESOLVED, FINAL),
    "decision_final": (State.REVIEW_RESOLVED, FINAL),
    "confirmation_request": (State.ACCEPTED, None),
}


def _context(kind: str, language: str) -> dict[str, Any]:
    state, final = COMPLAINANT_MAIL[kind]
    zh, en = STATE_LABELS[state]
    moment = datetime(2026, 10, 12, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    date = DATE[language]
    return {
        "case": {
            "number": NUMBER,
            "status": state.value,
            "subject": f"{HOSTILE} 屏幕坏点",
            "complainant_name": f"<b>王</b>{HOSTILE}",
            "category": None,
            "severity": None,
        },
        "organisation": "客户服务中心" if language == "zh-CN" else "Customer Service Centre",
        "stage": en if language == "en" else zh,
        "next_date_text": "" if final else date,
        "next_what": final[language] if final else NEXT_WHAT[language],
        "sla": SlaPolicy(),
        "message": f"{HOSTILE} 商家已同意退款。",
        "reason": f"{HOSTILE} 等待检测报告",
        "reason_text": f"{HOSTILE} 缺少事实",
        "days": 3,
        "agreed": True,
        "consent_needed": True,
        "new_date_text": date,
        "review_deadline_text": date,
        "result_sent_text": date,
        "requested_at_text": date,
        "decided_at_text": date,
        "result_text": date,
        "window_end_text": date,
        "asked_text": date,
        "info_due_text": date,
        "received_at_text": moment.isoformat(),
        "feedback_due_text": date,
        "original_subject": f"{HOSTILE} 屏幕坏点",
        "request": f"{HOSTILE} 撤回投诉",
        "received_text": date,
    }


def _kinds_on_disk() -> set[str]:
    subjects = (TEMPLATES_DIR / "en").glob("*.subject.j2")
    names = {p.name.removesuffix(".subject.j2") for p in subjects}
    return {n for n in names if not n.startswith(("staff_", "leadership_"))}


def test_the_table_lists_every_complainant_template() -> None:
    assert set(COMPLAINANT_MAIL) == _kinds_on_disk()


CASES = [(kind, language) for kind in COMPLAINANT_MAIL for language in LANGUAGES]


@pytest.mark.parametrize(("kind", "language"), CASES)
def test_every_complainant_mail_names_the_case_and_the_next_date(kind: str, language: str) -> None:
    final = COMPLAINANT_MAIL[kind][1]
    rendered = render_reply(kind, language, _context(kind, language))
    for body in (rendered.text, rendered.html):
        assert NUMBER in body
        assert (final[language] if final else DATE[language]) in body


@pytest.mark.parametrize(("kind", "language"), CASES)
def test_every_complainant_mail_says_the_current_stage(kind: str, language: str) -> None:
    state, final = COMPLAINANT_MAIL[kind]
    zh, en = STATE_LABELS[state]
    label, stage_word = (en, "Current stage") if language == "en" else (zh, "当前阶段")
    rendered = render_reply(kind, language, _context(kind, language))
    assert f"{stage_word}: {label}" in rendered.text or f"{stage_word}：{label}" in rendered.text
    assert stage_word in rendered.html and label in rendered.html
    what = final[language] if final else DATE[language]
    line = "Next date: " if language == "en" else "下一时间节点："
    assert f"{line}{what}" in rendered.text


@pytest.mark.parametrize(("kind", "language"), CASES)
def test_html_escapes_what_came_from_mail(kind: str, language: str) -> None:
    rendered = render_reply(kind, language, _context(kind, language))
    assert "<script>" not in rendered.html and "<b>王</b>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    assert HOSTILE in rendered.text or "<b>王</b>" in rendered.text  # text is not HTML
