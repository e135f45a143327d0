"""Classify stage (issue 6): the case row gets a category, a severity and the reasons; what staff
set is never overwritten; a rerun changes nothing; severity never goes down by itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from models import Case, Deadline
from models.db import session_scope
from tests.actors import actor
from tests.unit.triage import (
    PRIVACY_BODY,
    complain,
    events,
    isolated_model_path,
    reload,
    sent,
)
from workers.app import App


@pytest.fixture(autouse=True)
def model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolated_model_path(tmp_path, monkeypatch)


def set_by_staff(app: App, case_id: int, **values: str) -> None:
    """What `#category` / `#severity` leave on the case."""
    with session_scope(app.db_url) as s:
        case = s.get(Case, case_id)
        for field, value in values.items():
            setattr(case, field, value)
            setattr(case, f"{field}_set_by", "wu")


def test_the_case_keeps_its_classification_and_why(app: App, drain) -> None:
    case = complain(app, drain, "个人信息泄露，已有媒体联系我", PRIVACY_BODY)
    record = case.classification
    assert (record["category"], record["severity"]) == ("privacy", "major")
    assert record["reasons"][:2] == [
        "category privacy: 个人信息, 泄露, 用户数据",
        "severity major: 媒体, 几万条",
    ]
    assert {
        "rule": "severity_signals",
        "target": "media",
        "evidence": ["媒体"],
        "level": "major",
    } in record["hits"]
    assert record["needs_review"] is False and 0 < record["confidence"] <= 1
    assert record["model_examples"] == record["severity_model_examples"] == 0  # rules alone
    [event] = events(app, case.id, "classified")
    assert event.detail["reasons"] == record["reasons"]
    # A major case must be answered within 12 hours, not the general 24.
    with session_scope(app.db_url) as s:
        due = s.execute(
            select(Deadline.due_at).where(
                Deadline.case_id == case.id, Deadline.kind == "first_feedback"
            )
        ).scalar_one()
    assert (due - case.received_at).total_seconds() == 12 * 3600


def test_what_staff_set_survives_a_rerun(app: App, drain) -> None:
    case = complain(app, drain, "个人信息泄露，已有媒体联系我", PRIVACY_BODY)
    mails = len(sent(app))
    set_by_staff(app, case.id, category="violation", severity="important")
    actor("classify_case").send(case.id)
    drain()
    again = reload(app, case.id)
    assert (again.category, again.category_set_by) == ("violation", "wu")
    assert (again.severity, again.severity_set_by) == ("important", "wu")
    assert again.classification["category"] == "privacy"  # what the classifier still thinks
    assert len(events(app, case.id, "classified")) == 1  # nothing new to record
    assert len(sent(app)) == mails


def test_staff_category_raises_severity_to_its_floor_but_never_lowers_it(app: App, drain) -> None:
    case = complain(
        app, drain, "会员页面的问题", "会员页面上显示的信息和我看到的不一样，麻烦核实。"
    )
    assert case.severity == "general"
    set_by_staff(app, case.id, category="product_quality")  # at least important (seed 004)
    actor("classify_case").send(case.id)
    drain()
    assert reload(app, case.id).severity == "important"
    set_by_staff(app, case.id, category="other")
    actor("classify_case").send(case.id)
    drain()
    assert reload(app, case.id).severity == "important"  # errs upward
    assert [e.detail["severity"] for e in events(app, case.id, "classified")] == [
        "general",
        "important",
    ]


def test_a_case_that_is_gone_is_not_an_error(app: App, drain) -> None:
    actor("classify_case").send(999)
    drain()
    with session_scope(app.db_url) as s:
        assert s.execute(select(Case)).first() is None
