"""The learning loop through the database (issue 6): staff correct the category or the severity
of similar cases, `complaintdesk classify --retrain` learns from them, and the next one comes in
right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from models import Case, Message
from models.db import session_scope
from tests.unit.triage import complain, isolated_model_path, reload
from workers.app import App
from workers.ops.cli import app as cli
from workers.triage.training_data import load_confirmed_examples, load_confirmed_severity_examples

DATA = Path(__file__).resolve().parent.parent / "data" / "complaints.jsonl"
# A kind of complaint the keyword rules do not know: loyalty points that vanished.
POINTS = [
    ("会员积分被清零", "我攒了三年的会员积分一夜之间被清零了，客服说是系统调整，我不接受。"),
    ("积分莫名其妙没了", "账户里的积分莫名其妙少了两万分，也没有任何兑换记录。"),
    ("积分兑换失败还扣了积分", "用积分兑换礼品提示失败，积分却被扣掉了，一直没有退回。"),
    ("积分过期没有提醒", "我的积分突然过期作废，之前从来没有收到任何到期提醒。"),
    ("会员等级和积分被降", "会员等级从金卡降成普卡，积分也被扣了一半，没有任何说明。"),
    ("积分商城兑换的券不能用", "在积分商城兑换的优惠券结账时显示无效，积分也没退回来。"),
]


@pytest.fixture(autouse=True)
def model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolated_model_path(tmp_path, monkeypatch)


def staff_categorised_case(
    app: App,
    subject: str,
    body: str,
    category: str | None,
    set_by: str | None = "li",
    severity: str | None = None,
    severity_set_by: str | None = None,
) -> int:
    """A case as it stands after staff answered `#category` (set_by) or never did (None), and
    likewise `#severity`."""
    with session_scope(app.db_url) as s:
        # Numbers of their own: the pipeline's cases number from TS-<this year>-000001.
        number = f"OLD-2000-{s.execute(select(func.count()).select_from(Case)).scalar_one():06d}"
        case = Case(
            number=number,
            subject=subject,
            complainant_email="c@example.net",
            category=category,
            category_set_by=set_by,
            severity=severity,
            severity_set_by=severity_set_by,
        )
        s.add(case)
        s.flush()
        s.add(
            Message(
                case_id=case.id, direction="in", role="complainant", subject=subject, body_text=body
            )
        )
        s.add(
            Message(
                case_id=case.id,
                direction="in",
                role="complainant",
                subject="Re",
                body_text="补充：截图见附件。",
            )
        )
        return int(case.id)


def test_only_cases_staff_categorised_are_examples(app: App) -> None:
    staff_categorised_case(app, "积分被清零", "积分没了。", "transaction")
    staff_categorised_case(app, "宽带断网", "断网三天。", "service_quality", set_by=None)
    staff_categorised_case(app, "无分类", "内容。", None, set_by=None)
    assert load_confirmed_examples() == [("积分被清零\n积分没了。", "transaction")]


def test_corrections_teach_the_classifier(app: App, drain) -> None:
    # The labelled training complaints stand for the cases staff confirmed so far, ...
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    train = [row for row in rows if row["split"] == "train"]
    for row in train:
        staff_categorised_case(app, "", row["text"], row["category"])
    before = complain(app, drain, "积分又被清零了", "我的会员积分又被清零了，一万多分说没就没。")
    assert before.category == "other" and before.classification["needs_review"]
    # ... and these are the ones they corrected: the points complaints are transactions.
    for subject, body in POINTS * 2:  # a handful of cases, some of them alike
        staff_categorised_case(app, subject, body, "transaction")

    result = CliRunner().invoke(cli, ["classify", "--retrain", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    transactions = sum(row["category"] == "transaction" for row in train)
    assert summary["examples"] == len(train) + 2 * len(POINTS)
    assert summary["categories"]["transaction"] == transactions + 2 * len(POINTS)

    after = complain(app, drain, "积分被清零", "昨天发现会员积分全部被清零了，三千多分，要求恢复。")
    assert after.category == "transaction"
    assert any(
        reason.startswith("model: transaction") for reason in after.classification["reasons"]
    )
    assert reload(app, before.id).category == "other"  # a case already classified stays as it is


def test_only_cases_staff_set_the_severity_of_are_severity_examples(app: App) -> None:
    staff_categorised_case(
        app, "掉线", "掉线几周了。", "service_quality", severity="important", severity_set_by="li"
    )
    staff_categorised_case(app, "断网", "断网三天。", "service_quality", severity="general")
    assert load_confirmed_severity_examples() == [("掉线\n掉线几周了。", "important")]
    assert len(load_confirmed_examples()) == 2  # both categories were staff-set


# Calls that keep dropping for weeks: no severity signal, so the rules say general.
DROPPED_CALLS = [
    ("电话老是掉线", "手机信号差，打电话老是掉线，已经好几个星期了。"),
    ("通话经常中断", "最近几周通话经常中断，打着打着就断了。"),
    ("每天掉线", "连续几个星期，每天打电话都会掉线好几次。"),
    ("通话掉线", "通话总是掉线，持续了好几周，影响工作。"),
    ("电话一直掉线", "这几个星期电话一直掉线，说不了两句就断。"),
    ("频繁掉线", "我家这边打电话频繁掉线，已经持续三周了。"),
]


def test_severity_corrections_teach_the_classifier(app: App, drain) -> None:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        if row["split"] == "train":
            staff_categorised_case(
                app,
                "",
                row["text"],
                row["category"],
                severity=row["severity"],
                severity_set_by="li",
            )
    before = complain(app, drain, "电话又掉线", "打电话又老是掉线，已经好几周了，请处理。")
    assert before.severity == "general"
    # Staff raised these to important (#severity important).
    for subject, body in DROPPED_CALLS:
        staff_categorised_case(
            app, subject, body, "service_quality", severity="important", severity_set_by="li"
        )

    result = CliRunner().invoke(cli, ["classify", "--retrain", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["severity_examples"] == summary["examples"]

    after = complain(app, drain, "电话掉线", "打电话又老是掉线，已经好几周了，请处理。")
    assert after.severity == "important"
    record = after.classification
    assert record["reasons"][1].startswith("severity important: like cases staff rated")
    assert record["severity_model_examples"] == summary["severity_examples"]
    assert any(hit["rule"] == "severity_model" for hit in record["hits"])
    assert reload(app, before.id).severity == "general"  # a case already classified stays
