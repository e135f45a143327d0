"""A complainant who writes in traditional characters (Taiwan, Hong Kong) is answered in them:
the zh-CN templates, converted with OpenCC, dates and case numbers as for zh-CN readers."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from models import Case
from models.db import session_scope
from tests.unit.test_hostile_mail import outbox, receive
from tests.unit.test_templates_render import CASES, _context
from workers.app import App
from workers.mail.textnorm import is_traditional, to_simplified, to_traditional
from workers.outbound.render import render_reply

MAIL = Path(__file__).resolve().parent.parent / "fixtures" / "mail"


@pytest.mark.parametrize("name", ["big5_taiwan.eml", "big5hkscs.eml"])
def test_traditional_writer_gets_a_traditional_acknowledgement(app: App, name: str) -> None:
    _, outcome = receive(app, (MAIL / name).read_bytes())
    with session_scope(app.db_url) as s:
        case = s.get(Case, outcome.case_id)
        assert case is not None and case.language == "zh-TW"
        number = case.number
    (row,) = [r for r in outbox(app) if r.kind == "acknowledgement"]
    mail = message_from_bytes(row.raw, policy=policy.default)
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert str(mail["Subject"]).startswith(f"[{number}] 投訴已受理登記：")
    assert f"案件編號為 {number}" in text and "當前階段：已收到" in text
    assert "請直接回覆本郵件" in text  # not OpenCC's 回複
    assert "编号" not in text + html and "投诉" not in text + html
    assert f"<strong>{number}</strong>" in html  # the markup survives the conversion


def test_simplified_writer_still_gets_simplified(app: App) -> None:
    _, outcome = receive(app, (MAIL / "outlook_zh_plain.eml").read_bytes())
    (row,) = [r for r in outbox(app) if r.kind == "acknowledgement"]
    text = message_from_bytes(row.raw, policy=policy.default).get_body(("plain",)).get_content()
    assert "案件编号为" in text and not is_traditional(text)


@pytest.mark.parametrize(("kind", "language"), [c for c in CASES if c[1] == "zh-CN"])
def test_every_complainant_mail_converts_to_traditional(kind: str, language: str) -> None:
    simplified = render_reply(kind, language, _context(kind, language))
    converted = render_reply(kind, language, _context(kind, language), traditional=True)
    for before, after in ((simplified.text, converted.text), (simplified.html, converted.html)):
        assert is_traditional(after) and "回複" not in after
        assert to_simplified(after).count("TS-2026") == before.count("TS-2026")
        # Templates converted once and values as printed: the same as converting it all.
        assert after == to_traditional(before)
    assert converted.subject == to_traditional(simplified.subject)
