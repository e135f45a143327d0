"""`complaintdesk classify` as an operator runs it: a mail or a text on stdin, JSON out."""

from __future__ import annotations

import json
import sys
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
from typer.testing import CliRunner

from config.settings import PROJECT_ROOT
from workers.ops.cli_classify import looks_like_mail, register

POLICY = str(PROJECT_ROOT / "config" / "policy.toml")
DATA = Path(__file__).resolve().parent.parent / "data" / "complaints.jsonl"


@pytest.fixture
def run(tmp_path: Path):
    app = typer.Typer()
    register(app)
    app.callback()(lambda: None)  # keep `classify` a sub-command, as in the real CLI
    runner = CliRunner()

    def invoke(*args: str, stdin: bytes = b"", model: Path | None = None):
        model_args = ["--model", str(model or tmp_path / "no-model.pkl")]
        return runner.invoke(app, ["classify", "--policy", POLICY, *model_args, *args], input=stdin)

    return invoke


def complaint_mail(body: str, charset: str = "utf-8") -> bytes:
    message = EmailMessage()
    message["From"] = "Police Fan <police-fan@example.com>"  # headers are not the complaint
    message["To"] = "complaints@example.org"
    message["Subject"] = "投诉：账号被盗"
    message["Message-ID"] = "<1@example.com>"
    message.set_content(body, charset=charset)
    return message.as_bytes()


def test_text_on_stdin_prints_the_json_contract(run) -> None:
    result = run("--json", stdin="你们泄露了我的个人信息，已经有记者来问了".encode())
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"category", "severity", "confidence", "reasons"} <= data.keys()
    assert (data["category"], data["severity"]) == ("privacy", "major")
    assert data["reasons"] == ["category privacy: 泄露, 个人信息", "severity major: 记者"]
    assert 0 < data["confidence"] <= 1


def test_a_mail_is_classified_by_its_subject_and_body_only(run) -> None:
    result = run("--json", stdin=complaint_mail("密码也被改了，登录不上。", charset="gbk"))
    data = json.loads(result.stdout)
    assert data["category"] == "network_security"
    assert data["severity"] == "general"  # "police" in the From header does not count


def test_big5_text_is_decoded(run) -> None:
    text = "我的帳號被駭客入侵，綁定的手機號碼被改掉，我已經報警。"
    data = json.loads(run("--json", stdin=text.encode("big5")).stdout)
    assert (data["category"], data["severity"]) == ("network_security", "major")


def test_without_json_it_prints_for_people(run) -> None:
    result = run(stdin="新买的耳机做工很差".encode())
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:2] == [
        "category  product_quality 商品质量 (0.50)",
        "severity  important",
    ]


def test_empty_stdin_is_refused(run) -> None:
    result = run("--json", stdin=b"  \n")
    assert result.exit_code == 2
    assert "nothing on stdin" in result.stderr


@pytest.mark.parametrize(
    ("raw", "is_mail"),
    [
        (b"From: a@example.com\r\nSubject: hi\r\n\r\nbody", True),
        (b"Received: from x\r\n\tby y\r\nSubject: hi\r\n\r\nbody", True),
        ("投诉：快递丢了\n\n请处理".encode(), False),
        (b"Note: my refund is late\nplease help", False),
        (b"X-Custom: 1\n\nno known header", False),
    ],
)
def test_mail_is_told_from_text_by_its_headers(raw: bytes, is_mail: bool) -> None:
    assert looks_like_mail(raw) is is_mail


def test_retrain_from_jsonl_then_classify_with_the_model(run, tmp_path: Path) -> None:
    model = tmp_path / "var" / "classifier.pkl"
    result = run("--retrain", "--from-jsonl", str(DATA), "--json", model=model)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    summary = json.loads(result.stdout)
    assert summary["examples"] == len(rows)
    assert summary["categories"]["privacy"] == sum(r["category"] == "privacy" for r in rows)
    assert summary["severity_examples"] == len(rows)  # every labelled row has a severity
    assert summary["severities"]["major"] == sum(r["severity"] == "major" for r in rows)
    data = json.loads(run("--json", stdin="积分被清零了".encode(), model=model).stdout)
    assert {"category", "severity", "confidence", "reasons"} <= data.keys()
    assert any(reason.startswith("model: ") for reason in data["reasons"])
    assert any(reason.startswith("model severity: ") for reason in data["reasons"])


def test_retrain_reads_the_database_source_when_there_is_one(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    confirmed = [("积分被清零", "transaction"), ("泄露个人信息", "privacy")]
    source = SimpleNamespace(
        load_confirmed_examples=lambda: confirmed, load_confirmed_severity_examples=lambda: []
    )
    monkeypatch.setitem(sys.modules, "workers.triage.training_data", source)
    result = run("--retrain", "--json", model=tmp_path / "m.pkl")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["examples"] == 2
    assert json.loads(result.stdout)["severity_examples"] == 0  # a source without severities
    assert "the model joins the rules from 50 cases on" in result.stderr


def test_retrain_skips_unknown_severities(run, tmp_path: Path) -> None:
    rows = [
        {"text": "积分被清零", "category": "transaction", "severity": "urgent"},
        {"text": "泄露个人信息", "category": "privacy"},
    ]
    source = tmp_path / "confirmed.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    result = run("--retrain", "--from-jsonl", str(source), "--json", model=tmp_path / "m.pkl")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["severity_examples"] == 0
    assert "skipped 1 cases of unknown severities" in result.stderr


def test_an_unreadable_model_file_leaves_the_rules(run, tmp_path: Path) -> None:
    model = tmp_path / "classifier.pkl"
    model.write_bytes(b"not a pickle")
    result = run("--json", stdin="你们泄露了我的个人信息".encode(), model=model)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["category"] == "privacy"
    assert "classifying by rules only" in result.stderr
