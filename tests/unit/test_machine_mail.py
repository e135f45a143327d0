"""Issue 11 items 3 and 4 through ingest: what people write is answered, what machines send
back is not, and two auto-responders cannot ping-pong through us.

Stage tests on SQLite: a mail stored, ingested, and the outbox read back.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Event, OutboundEmail
from models.db import session_scope
from tests.unit.test_hostile_mail import events, outbox, receive, simple_mail
from workers.app import App
from workers.outbound.repeat_guard import repeats, subject_key


def _acknowledged(app: App, sender: str = "lihua@qq.com") -> OutboundEmail:
    _, outcome = receive(
        app, simple_mail(sender, "宽带断网三天", "宽带断网三天了。", message_id="c1@qq.com")
    )
    assert outcome.disposition == "case"
    (ack,) = outbox(app, sender)
    return ack


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Delivery failure: my parcel never arrived", "I ordered on Monday; nothing came."),
        ("Returned mail - you lost my package", "The parcel went back to your depot."),
        ("未送达：快递三天没到", "快递三天没到，电话也打不通。"),
        ("无法送达：快递员说地址不对", "地址明明是对的，快递无法送达是你们的问题。"),
        ("Out of office hours your shop was closed", "I came at 17:00 and it was shut."),
        ("Auto reply from your hotline is useless", "Your hotline's auto reply told me nothing."),
        ("自动回复机器人答非所问", "你们的自动回复机器人答非所问，我要人工处理。"),
    ],
)
def test_a_person_whose_subject_looks_automatic_gets_a_case(
    app: App, subject: str, body: str
) -> None:
    _, outcome = receive(app, simple_mail("wang@163.com", subject, body, message_id="p@163.com"))
    assert outcome.disposition == "case" and outcome.new_case
    assert [m.kind for m in outbox(app, "wang@163.com")] == ["acknowledgement"]


def test_a_nonstandard_bounce_quoting_our_mail_gets_no_acknowledgement(app: App) -> None:
    ack = _acknowledged(app)
    quoted = ack.raw.decode("utf-8", "replace").replace("\r\n", "\n")
    bounce = simple_mail(
        "mail-service@relay.example.net",
        "Mail could not be delivered",
        "This message was created automatically.\nThe recipient's mailbox is full.\n\n"
        "------ original message ------\n" + quoted,
        message_id="bnc1@relay.example.net",
    )
    _, outcome = receive(app, bounce)
    assert outcome.disposition == "screened" and outcome.outbound_ids == []
    assert [m.id for m in outbox(app)] == [ack.id]
    with session_scope(app.db_url) as s:
        assert s.get(OutboundEmail, ack.id).bounced_at is not None  # type: ignore[union-attr]


def test_our_mail_back_with_its_headers_stripped_is_not_acknowledged(app: App) -> None:
    ack = _acknowledged(app)
    stripped = simple_mail(
        "lihua@qq.com",  # a forwarder rewrote From and dropped our marker headers
        ack.subject,
        "您的投诉已受理。",
        message_id=ack.message_id,
    )
    _, outcome = receive(app, stripped)
    assert outcome.disposition == "screened" and outcome.outbound_ids == []
    assert [m.id for m in outbox(app)] == [ack.id]


def test_two_auto_responders_answering_each_other_through_us_get_one_mail(app: App) -> None:
    """A and B answer every mail with a mail of their own, no RFC 3834 headers, no
    In-Reply-To; a forged complaint from A with B in Cc starts them. We must mail each at
    most once, however long they go on."""
    for round_ in range(6):
        for me, other in (("away@a.example", "bot@b.example"), ("bot@b.example", "away@a.example")):
            receive(
                app,
                simple_mail(
                    me,
                    "Thank you for your message" if round_ else "Your order",
                    f"We received your message and will reply soon. (round {round_})",
                    f"Cc: {other}",
                    message_id=f"r{round_}.{me}",
                ),
            )
    assert len(outbox(app, "away@a.example")) <= 2  # "Your order" and "Thank you…" once each
    assert len(outbox(app, "bot@b.example")) <= 2
    assert events(app, "auto_reply_suppressed")


def test_one_automatic_reply_per_sender_per_subject_per_day(app: App) -> None:
    for i in range(5):
        receive(
            app,
            simple_mail(
                "bot@b.example", "Order status", f"Order {i} shipped.", message_id=f"t{i}@b"
            ),
        )
    assert len(outbox(app, "bot@b.example")) == 1
    with session_scope(app.db_url) as s:
        reasons = list(
            s.execute(select(Event.detail).where(Event.kind == "auto_reply_suppressed")).scalars()
        )
    assert len(reasons) == 4 and all("this subject" in d["reason"] for d in reasons)


def test_subject_key_ignores_tags_prefixes_and_nesting() -> None:
    assert subject_key("[TS-2026-000002] 已受理：Re: [TS-2026-000001] 已受理：X", "TS") == (
        subject_key("[TS-2026-000001] 已受理：X", "TS")
    )
    assert repeats("回复：[TS-2026-000009] Thank you", ["[TS-2026-000003] thank  you"], "TS")
    assert not repeats("[TS-2026-000005] 已受理：宽带断网", ["[TS-2026-000001] 已受理：宽带"], "TS")


def test_an_auto_responder_quoting_our_acknowledgement_gets_nothing_more(app: App) -> None:
    """Our acknowledgement reaches an auto-responder without RFC 3834 headers, which answers
    under its own subject, quoting what it got; each answer would open a case and earn an
    acknowledgement, which it answers again."""
    ack = _acknowledged(app, "away@a.example")
    for i in range(5):
        (last,) = outbox(app, "away@a.example")[-1:]
        quoted = last.raw.decode("utf-8", "replace").replace("\r\n", "\n")
        quoted = "\n".join("> " + line for line in quoted.split("\n\n", 1)[1].splitlines()[:8])
        answer = simple_mail(
            "away@a.example",
            f"Re: your message {i}",  # a subject of its own each time
            f"I am away until Monday.\n\n> Subject: {last.subject}\n{quoted}",
            message_id=f"away{i}@a.example",
        )
        receive(app, answer)
    assert [m.id for m in outbox(app, "away@a.example")] == [ack.id]
