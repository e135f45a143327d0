"""The words every letter shares (workers.outbound.letters) and the staff mail builder and case
summary (workers.outbound.staff_letters): one definition, whichever path mails them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models import Case
from workers.app import App
from workers.outbound.letters import (
    category_label,
    organisation,
    severity_label,
    stage_label,
    state_label,
)
from workers.outbound.render import is_english
from workers.outbound.staff_letters import case_summary, staff_request


@pytest.mark.parametrize(
    ("language", "english"),
    [
        ("en", True),
        ("en-GB", True),
        ("EN", True),
        ("zh-CN", False),
        ("zh-TW", False),
        ("zh", False),
    ],
)
def test_is_english(language: str, english: bool) -> None:
    assert is_english(language) is english


def test_state_and_stage_labels() -> None:
    assert state_label("accepted", "en") == "accepted (under investigation)"
    assert state_label("accepted", "zh-CN") == "已受理（调查中）"
    assert state_label("closed", "en-GB") == "closed"


def test_stage_label_reads_the_template_language(app: App) -> None:
    case = Case(number="TS-2026-000001", status="resolved")
    assert stage_label(app, case, "zh-TW") == "已办结"  # zh-TW reads the zh-CN templates
    assert stage_label(app, case, "en") == "resolved"


@pytest.mark.parametrize(
    ("code", "language", "label"),
    [
        ("major", "zh-CN", "重大"),
        ("major", "en", "major"),
        ("important", "zh-CN", "重要"),
        ("general", "en", "general"),
        ("huge", "en", "huge"),
        (None, "zh-CN", None),
    ],
)
def test_severity_label(code: str | None, language: str, label: str | None) -> None:
    assert severity_label(code, language) == label


def test_category_label_is_code_and_name(app: App) -> None:
    privacy = next(c for c in app.policy.categories if c.code == "privacy")
    assert category_label(app, "privacy", "en") == f"privacy {privacy.name_en}"
    assert category_label(app, "privacy", "zh-CN") == f"privacy {privacy.name_zh}"
    assert category_label(app, "no_such_code", "en") == "no_such_code"
    assert category_label(app, None, "en") is None


def test_organisation(app: App) -> None:
    assert organisation(app, "en") == app.policy.organisation_en
    assert organisation(app, "zh-TW") == app.policy.organisation_zh


def test_case_summary_names_the_group_and_the_member(app: App) -> None:
    member = app.policy.staff[0]
    group = next(g for g in app.policy.groups if g.id == member.groups[0])
    case = Case(
        number="TS-2026-000002",
        status="accepted",
        category="privacy",
        severity="major",
        assigned_group=group.id,
        assignee=member.id,
        merged_into=None,
        malicious=False,
    )
    due = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    summary = case_summary(app, case, due, "en")
    assert summary["category"] == category_label(app, "privacy", "en")
    assert summary["severity"] == "major"
    assert summary["group"] == group.name
    assert summary["assignee"] == f"{member.name} ({member.id})"
    assert summary["next_date_text"] == app.calendar.format_datetime(due, "en")
    assert (summary["merged_into"], summary["malicious"]) == (None, False)
    assert case_summary(app, case, None, "zh-CN")["next_date_text"] == ""
    assert case_summary(app, case, None, "zh-CN")["severity"] == "重大"


def test_unset_fields_stay_unset_in_the_summary(app: App) -> None:
    case = Case(number="TS-2026-000003", status="received", merged_into=None, malicious=False)
    summary = case_summary(app, case, None, "en")
    assert (summary["category"], summary["severity"]) == (None, None)
    assert (summary["group"], summary["assignee"]) == (None, None)


def test_a_staff_request_is_auto_generated_and_signed_for_the_member(app: App) -> None:
    member = app.policy.staff[0]
    request = staff_request(
        "staff_transcript",
        "occasion",
        member,
        "zh-CN",
        {"x": 1},
        in_reply_to="a@b",
        references=["a@b"],
    )
    assert request.auto_submitted == "auto-generated"
    assert (request.staff_id, request.role, request.to_addr) == (member.id, "staff", member.email)
    assert (request.in_reply_to, request.references, request.context) == ("a@b", ["a@b"], {"x": 1})
