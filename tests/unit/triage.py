"""Helpers for the classify and route stage tests: a complaint through the whole pipeline, and
the mails staff received, as their mail client shows them."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from sqlalchemy import select

from config.settings import get_settings
from models import Case, Event
from models.db import session_scope
from tests.actors import actor
from workers.app import App
from workers.intake.raw_store import store_raw

PRIVACY_BODY = (
    "你们平台泄露了我的个人信息！今天有媒体联系我，说你们平台有几万条用户数据在网上被公开售卖，"
    "里面包括我的身份证号和家庭住址。我要求你们马上调查并给出说法。\n\n王建国\n"
    "wangjianguo@qq.com  13800138000\n"
)


def isolated_model_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the worker and `classify --retrain` keep the model in this test: a fresh folder,
    so that no test sees a model a developer trained in var/."""
    path = tmp_path / "classifier.pkl"
    # The app fixture's Settings read the variable (autouse fixtures run first); the CLI
    # reads the process's settings.
    monkeypatch.setenv("COMPLAINTDESK_MODEL_PATH", str(path))
    monkeypatch.setattr(get_settings(), "model_path", path)
    return path


def complaint(subject: str, body: str, frm: str = "王建国 <wangjianguo@qq.com>") -> bytes:
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = "complaints@example.org"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.net")
    msg.set_content(body)
    return msg.as_bytes()


def complain(
    app: App,
    drain,
    subject: str,
    body: str,
    frm: str = "王建国 <wangjianguo@qq.com>",
) -> Case:
    """Send one complaint through the pipeline (ingest, classify, route, send); its case."""
    with session_scope(app.db_url) as s:
        raw = store_raw(s, complaint(subject, body, frm), "test")
        assert raw is not None
        raw_id = raw.id
    actor("ingest_message").send(raw_id)
    drain()
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).order_by(Case.id.desc()).limit(1)).scalar_one()
        assert case.category is not None, "classification did not run"
        return case


def reload(app: App, case_id: int) -> Case:
    with session_scope(app.db_url) as s:
        case = s.get(Case, case_id)
        assert case is not None
        return case


def events(app: App, case_id: int, kind: str) -> list[Event]:
    with session_scope(app.db_url) as s:
        return list(
            s.execute(
                select(Event).where(Event.case_id == case_id, Event.kind == kind).order_by(Event.id)
            ).scalars()
        )


def sent(app: App, kind: str | None = None, to: str | None = None) -> list[EmailMessage]:
    """The mails written to the outbox folder, oldest first."""
    assert app.settings.outbox_dir is not None
    paths = sorted(app.settings.outbox_dir.glob(f"*-{kind or '*'}.eml"))
    mails = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in paths]
    return [m for m in mails if to is None or recipient(m) == to]


def recipient(mail: EmailMessage) -> str:
    return mail["To"].addresses[0].addr_spec


def text_of(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
