"""The operator's CLI: JSON contracts, quarantine replay and discard, staff list."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from models import RawMessage
from models.db import session_scope
from tests.actors import actor
from workers.app import App
from workers.intake.folder_inbox import import_folder
from workers.intake.quarantine import quarantine_row
from workers.ops.cli import app as cli

DEMO = Path(__file__).resolve().parent.parent / "fixtures" / "demo_inbox"
runner = CliRunner()


def run_json(*args: str) -> object:
    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_json_contracts_of_cases_case_and_mail(app: App, drain) -> None:
    for raw_id in import_folder(app, DEMO):
        actor("ingest_message").send(raw_id)
    drain()
    cases = run_json("cases", "list")
    assert len(cases) == 10
    for field in (
        "number",
        "status",
        "complainant",
        "subject",
        "language",
        "created_at",
        "message_count",
    ):
        assert all(field in c for c in cases), field
    first = next(c for c in cases if c["complainant"] == "wangjianguo@qq.com")
    assert first["status"] == "received" and first["language"] == "zh-CN"
    detail = run_json("case", "show", first["number"])
    assert detail["status"] == "received"
    incoming = [m for m in detail["messages"] if m["direction"] == "in"]
    assert "LOS灯" in incoming[1]["text"]  # the decoded GBK reply on the same case
    assert any(e["kind"] == "case_opened" for e in detail["events"])
    mail = run_json("mail", "list")
    assert len(mail) == 13
    for field in ("message_id", "received_at", "disposition", "reason", "case"):
        assert all(field in m for m in mail), field
    assert {m["disposition"] for m in mail} == {"case", "follow_up", "screened"}
    reply = next(m for m in mail if m["disposition"] == "follow_up")
    assert reply["case"] == first["number"]


def test_quarantine_list_replay_and_discard(app: App, drain) -> None:
    ids = import_folder(app, DEMO)[:2]
    with session_scope(app.db_url) as s:
        for raw_id in ids:
            quarantine_row(s, s.get(RawMessage, raw_id), "gave up after 3 attempts: test")
    listed = run_json("quarantine", "list")
    assert [q["id"] for q in listed] == ids and listed[0]["reason"].startswith("gave up")
    assert listed[0]["disposition"] == "quarantined"

    replay = runner.invoke(cli, ["quarantine", "replay", str(ids[0]), "--note", "fixed"])
    assert replay.exit_code == 0, replay.output
    drain()
    discard = runner.invoke(cli, ["quarantine", "discard", str(ids[1]), "--note", "spam"])
    assert discard.exit_code == 0, discard.output
    assert run_json("quarantine", "list") == []
    mail = {m["id"]: m for m in run_json("mail", "list")}
    assert mail[ids[0]]["disposition"] == "case" and mail[ids[0]]["case"]
    assert mail[ids[1]]["disposition"] == "screened" and "spam" in mail[ids[1]]["reason"]
    again = runner.invoke(cli, ["quarantine", "replay", str(ids[0])])
    assert again.exit_code == 1 and "not in quarantine" in again.output


def test_unknown_case_is_an_error(app: App) -> None:
    result = runner.invoke(cli, ["case", "show", "TS-2026-999999"])
    assert result.exit_code == 1 and "no case" in result.output


def test_staff_list_json_is_the_policy_table(app: App) -> None:
    staff = run_json("staff", "list")
    assert {"id": "li", "name": "李专员", "email": "li@example.org"}.items() <= staff[1].items()
    assert all({"id", "name", "email", "groups"} <= s.keys() for s in staff)
