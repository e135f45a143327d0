"""Ingest stage: drain the stub broker and assert what reached the next stage.

A new complaint becomes a case with an acknowledgement in the outbox (and, the sender being
drained too, in the outbox folder); a reply lands on its case; auto-replies and bounces are
recorded and never answered; a running-twice actor never duplicates anything.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy import func, select

from models import Case, Event, Message, OutboundEmail, RawMessage
from models.db import session_scope
from tests.actors import actor
from workers.app import App
from workers.intake.folder_inbox import import_folder
from workers.intake.ingest import ingest
from workers.intake.raw_store import store_raw

DEMO = Path(__file__).resolve().parent.parent / "fixtures" / "demo_inbox"


def _store(app: App, raw: bytes) -> int:
    with session_scope(app.db_url) as s:
        row = store_raw(s, raw, "test")
        assert row is not None
        return int(row.id)


def _sent(app: App) -> list:
    """The mails to complainants (staff are told of new cases too: test_route_stage)."""
    assert app.settings.outbox_dir is not None
    staff = _staff_addresses(app)
    mails = [
        message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted(app.settings.outbox_dir.glob("*.eml"))
    ]
    return [m for m in mails if m["To"].addresses[0].addr_spec not in staff]


def _staff_addresses(app: App) -> list[str]:
    return [member.email for member in app.policy.staff]


def test_demo_inbox_becomes_cases_and_acknowledgements(app: App, drain) -> None:
    for raw_id in import_folder(app, DEMO):
        actor("ingest_message").send(raw_id)
    drain()
    with session_scope(app.db_url) as s:
        dispositions = dict(
            s.execute(
                select(RawMessage.disposition, func.count()).group_by(RawMessage.disposition)
            ).all()
        )
        cases = list(s.execute(select(Case).order_by(Case.id)).scalars())
    # 13 mails: 10 complaints, 1 reply to the first, 1 out-of-office, 1 bounce.
    assert dispositions == {"case": 10, "follow_up": 1, "screened": 2}
    assert [c.number[-6:] for c in cases] == [f"{i:06d}" for i in range(1, 11)]
    broadband = cases[0]
    assert broadband.subject == "宽带连续三天断网，客服电话打不通"
    assert broadband.complainant_name == "王建国" and broadband.language == "zh-CN"
    staff = {member.email for member in app.policy.staff}
    sent = [m for m in _sent(app) if m["To"].addresses[0].addr_spec not in staff]
    assert len(sent) == 10  # one acknowledgement per complaint, nothing else to complainants
    assert {m["X-Complaintdesk-Case"] for m in sent} == {c.number for c in cases}
    by_to = {m["To"].addresses[0].addr_spec: m for m in sent}
    ack = by_to["wangjianguo@qq.com"]
    assert (
        ack["Subject"] == f"[{broadband.number}] 投诉已受理登记：宽带连续三天断网，客服电话打不通"
    )
    assert ack["In-Reply-To"] == "<tencent_3A7F2B9C1D@qq.com>"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["Reply-To"].startswith(f"complaints+{broadband.number}.")
    text = ack.get_body(("plain",)).get_content()
    assert broadband.number in text and "个人信息保护" in text
    # The stage block every complainant mail carries: the stage, and the first answer's time.
    assert "当前阶段：已收到" in text and "（我们给您初步答复的最迟时间）" in text
    english = by_to["t.becker@outlook.com"].get_body(("plain",)).get_content()
    assert "Your case number is" in english
    assert "Current stage: received" in english
    assert "(the latest time of our first answer to you)" in english
    assert "zhangwei@partner-corp.cn" not in by_to  # the out-of-office got nothing


def test_reply_lands_on_its_case_without_a_second_acknowledgement(app: App, drain) -> None:
    for raw_id in import_folder(app, DEMO):
        actor("ingest_message").send(raw_id)
    drain()
    with session_scope(app.db_url) as s:
        case = s.execute(
            select(Case).where(Case.complainant_email == "wangjianguo@qq.com")
        ).scalar_one()
        texts = [
            m.body_text
            for m in s.execute(
                select(Message)
                .where(Message.case_id == case.id, Message.direction == "in")
                .order_by(Message.id)
            ).scalars()
        ]
        acks = s.execute(
            select(func.count())
            .select_from(OutboundEmail)
            .where(
                OutboundEmail.case_id == case.id,
                OutboundEmail.to_addr.not_in(_staff_addresses(app)),
            )
        ).scalar_one()
    assert len(texts) == 2 and "LOS灯" in texts[1]
    assert acks == 1


def test_ingest_twice_changes_nothing(app: App) -> None:
    raw_id = _store(app, (DEMO / "03_outlook_en_billing.eml").read_bytes())
    first = ingest(app, raw_id)
    second = ingest(app, raw_id)
    assert first.new_case and len(first.outbound_ids) == 1
    assert not second.new_case and second.outbound_ids == []
    with session_scope(app.db_url) as s:
        assert s.execute(select(func.count()).select_from(Case)).scalar_one() == 1
        assert s.execute(select(func.count()).select_from(OutboundEmail)).scalar_one() == 1


def test_unparseable_and_oversize_mail_is_quarantined_with_its_bytes(app: App) -> None:
    big = b"From: a@example.com\r\nSubject: big\r\n\r\n" + b"x" * (
        app.policy.limits.max_message_bytes + 1
    )
    raw_id = _store(app, big)
    assert ingest(app, raw_id).disposition == "quarantined"
    with session_scope(app.db_url) as s:
        raw = s.get(RawMessage, raw_id)
        assert raw.status == "quarantined" and "larger than" in raw.reason and raw.raw == big
        assert (
            s.execute(select(Event.kind).where(Event.raw_message_id == raw_id)).scalar_one()
            == "quarantined"
        )


def test_per_sender_cap_stops_an_auto_responder_loop(app: App) -> None:
    cap = app.policy.limits.max_auto_replies_per_sender_per_hour
    for i in range(cap + 3):
        raw = (
            f"From: storm@example.net\r\nTo: complaints@example.org\r\n"
            f"Subject: complaint {i}\r\nMessage-ID: <storm{i}@example.net>\r\n\r\n"
            f"my broadband is down {i}\r\n"
        ).encode()
        ingest(app, _store(app, raw))
    with session_scope(app.db_url) as s:
        acks = s.execute(
            select(func.count())
            .select_from(OutboundEmail)
            .where(OutboundEmail.to_addr == "storm@example.net")
        ).scalar_one()
        suppressed = s.execute(
            select(func.count()).select_from(Event).where(Event.kind == "auto_reply_suppressed")
        ).scalar_one()
    assert acks == cap and suppressed == 3


def test_subject_tag_from_a_stranger_opens_a_new_case(app: App) -> None:
    first = ingest(app, _store(app, (DEMO / "03_outlook_en_billing.eml").read_bytes()))
    with session_scope(app.db_url) as s:
        number = s.get(Case, first.case_id).number
    forged = (
        f"From: mallory@evil.example\r\nTo: complaints@example.org\r\n"
        f"Subject: Re: [{number}] Charged twice\r\nMessage-ID: <m1@evil.example>\r\n\r\n"
        f"withdraw please\r\n"
    ).encode()
    outcome = ingest(app, _store(app, forged))
    assert outcome.new_case and outcome.case_id != first.case_id
    with session_scope(app.db_url) as s:
        notes = list(
            s.execute(select(Event.detail).where(Event.kind == "correlation_refused")).scalars()
        )
    assert notes and "not a party" in notes[0]["note"]
