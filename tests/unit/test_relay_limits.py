"""Issue 11 item 12, the desk as a relay: a flood of complaints under forged From addresses
must not make the official address mail every victim, repeat the forger's link, address or
number in our subject lines, or page leadership once per "major" complaint."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from models import Event
from models.db import session_scope
from tests.unit.casemail import build_mail, feed
from tests.unit.triage import PRIVACY_BODY, complain, isolated_model_path, recipient, sent
from workers import wiring
from workers.app import App
from workers.intake.acknowledge import AckBudget, over_budget
from workers.mail.subject_guard import defang
from workers.triage.staff_notice import leadership_pace

PHISHING = "退款通知：请登录 https://bank-refund.example/login 输入银行卡号 6222 0212 3456 7890"


@pytest.fixture(autouse=True)
def model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolated_model_path(tmp_path, monkeypatch)


def with_limits(app: App, **limits: int) -> App:
    policy = app.policy.model_copy(deep=True)
    for key, value in limits.items():
        setattr(policy.limits, key, value)
    changed = App(app.settings, policy)
    wiring.start(changed)
    return changed


@pytest.mark.parametrize(
    ("subject", "kept", "gone"),
    [
        (PHISHING, "退款通知：请登录", ["http", "bank-refund", "6222", "7890"]),
        ("请登录 ｉｃｂｃ－ｒｅｆｕｎｄ．ｃｏｍ 领取", "领取", ["ｃｏｍ", "icbc"]),
        ("请登录 icbc-refund。cn 领取", "领取", ["icbc", "。cn"]),
        ("ht\u200btps://evil.example/x 点击", "点击", ["evil", "http"]),
        (
            "联系 refund@evil.example 或 ｒｅｆｕｎｄ＠ｅｖｉｌ．ｃｎ",
            "联系",
            ["@", "＠", "evil", "ｅｖｉｌ"],
        ),
        ("客服电话 138.1234.5678、+86 (10) 6552-9988", "客服电话", ["1234", "5678", "9988"]),
        ("加QQ 12345678 领红包", "领红包", ["12345678"]),
        ("手机屏幕坏点，商家拒绝退货 2999 元（2026-10-01 购买）", "2999 元（2026-10-01 购买）", []),
        ("Re: [TS-2026-000123] 续", "[TS-2026-000123] 续", []),
    ],
)
def test_defang_drops_links_addresses_and_numbers(subject: str, kept: str, gone: list[str]) -> None:
    safe = defang(subject)
    assert kept in safe
    for word in gone:
        assert word not in safe, (word, safe)


def test_defang_is_bounded() -> None:
    assert len(defang("a." * 200_000)) <= 501
    assert len(defang("1-" * 200_000)) <= 501


def test_our_subjects_never_repeat_the_senders_link_or_number(app: App, drain) -> None:
    case = complain(app, drain, PHISHING, PRIVACY_BODY, frm="victim <victim@example.net>")
    [ack] = sent(app, "acknowledgement")
    assert recipient(ack) == "victim@example.net"
    subject = str(ack["Subject"])
    assert subject.startswith(f"[{case.number}] ") and "退款通知：请登录" in subject, subject
    for word in ("http", "bank-refund", "6222", "7890"):
        assert word not in subject, subject
    # Staff, our own, read the subject as the redaction rules show it (workers.mail.redact).
    assert "bank-refund" in str(sent(app, "staff_notification")[0]["Subject"])


def test_pure_acknowledgement_budget() -> None:
    budget = AckBudget(per_domain=2, overall=3)
    assert over_budget(1, 2, budget) is None
    assert "domain" in (over_budget(2, 2, budget) or "")
    assert "past hour" in (over_budget(0, 3, budget) or "")


def _events(app: App, kind: str) -> list[Event]:
    with session_scope(app.db_url) as s:
        return list(s.execute(select(Event).where(Event.kind == kind).order_by(Event.id)).scalars())


def test_acknowledgements_are_capped_per_domain_and_overall(app: App) -> None:
    app = with_limits(
        app, max_acknowledgements_per_domain_per_hour=2, max_acknowledgements_per_hour=3
    )
    senders = ["a@victim.example", "b@victim.example", "c@VICTIM.example", "d@other.example",
               "e@third.example"]  # fmt: skip
    outcomes = [
        feed(app, build_mail(f"x <{s}>", app.settings.intake_address, f"投诉 {i}", PRIVACY_BODY))
        for i, s in enumerate(senders)
    ]
    assert all(o.new_case for o in outcomes)  # every case stands
    acked = [bool(o.outbound_ids) for o in outcomes]
    assert acked == [True, True, False, True, False]
    suppressed = _events(app, "acknowledgement_suppressed")
    assert [e.detail["to"] for e in suppressed] == ["c@victim.example", "e@third.example"]


def test_leadership_pace() -> None:
    assert leadership_pace(4, 0, 5) == "notice"
    assert leadership_pace(5, 0, 5) == "digest"
    assert leadership_pace(6, 1, 5) == "hold"


def test_a_flood_of_major_cases_pages_leadership_once_as_a_digest(app: App, drain) -> None:
    app = with_limits(app, max_leadership_notices_per_hour=2)
    numbers = [
        complain(app, drain, f"个人信息泄露 {i}", PRIVACY_BODY, frm=f"v{i} <v{i}@example.net>")
        for i in range(6)
    ]
    assert all(c.severity == "major" for c in numbers)
    for leader in ("qian@example.org", "zhao@example.org"):
        notices = sent(app, "leadership_notice", to=leader)
        digests = sent(app, "leadership_digest", to=leader)
        assert len(notices) == 2 and len(digests) == 1, leader
        text = digests[0].get_body(("plain",)).get_content()
        assert all(c.number in text for c in numbers[:3])
        assert recipient(digests[0]) == leader
    held = _events(app, "leadership_notice_held")
    assert len(held) == 2 * 3  # cases 4 to 6, for each of the two leaders
