"""One long mail never jams the workers (issue 11 item 13): every text heuristic reads a bounded
part of the text, linearly. Behaviour, not timing: bench/hostile_text.py has the figures.
"""

from __future__ import annotations

import pytest

from config.policy import TEXT_READ_CHARS, Policy, load_policy
from config.settings import PROJECT_ROOT
from workers.casework.intent import IntentKind, complainant_intent
from workers.casework.staff_auth import parse_authentication_results, without_comments
from workers.mail.redact import StaffView
from workers.mail.textnorm import word_bounds, word_bounds_near
from workers.triage.classify import classify, find_amounts

BROADBAND = "我家的宽带从上周开始每天晚上断网，打了客服电话也没有人来修，请尽快处理。\n"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(PROJECT_ROOT / "config" / "policy.toml")


def long_mail(head: str, tail: str, size: int = 300_000) -> str:
    """`head` repeated to about `size` UTF-8 bytes, with `tail` written past the cap."""
    text = head * (size // len(head.encode()) + 1)
    assert len(text) > TEXT_READ_CHARS + len(tail)
    cut = TEXT_READ_CHARS + 100
    return text[:cut] + tail + text[cut:]


def test_a_300_kb_complaint_is_classified_as_its_first_part(policy: Policy) -> None:
    text = long_mail(BROADBAND, "商家泄露了我的个人信息，我已经起诉并找了媒体曝光，损失巨大。")
    first = classify(text[:TEXT_READ_CHARS], policy)
    whole = classify(text, policy)
    assert (whole.category, whole.severity, whole.reasons) == (
        first.category,
        first.severity,
        first.reasons,
    )
    assert whole.severity != "major"  # the lawsuit and the media are past what is read


def test_a_300_kb_reply_is_read_as_its_first_part() -> None:
    text = long_mail("补充一下情况：快递员说包裹放在驿站了，但我去问驿站说没有。\n", "我要撤回投诉")
    assert complainant_intent(text, "Re: [TS-2026-000001]").kind == IntentKind.INFO
    assert complainant_intent(text[:TEXT_READ_CHARS], "x").kind == IntentKind.INFO


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # The negation right before a cue, far into one long clause, still turns it around.
        ("情况" * 5000 + "我不需要申请复查", IntentKind.INFO),
        ("情况" * 5000 + "我申请复查", IntentKind.REVIEW_REQUEST),
        ("word " * 3000 + "i do not want to appeal", IntentKind.INFO),
        ("word " * 3000 + "i want to appeal", IntentKind.REVIEW_REQUEST),
        # "cannot" cut by the window is not "not": the window never starts inside a word.
        ("x" * 200 + " appeal", IntentKind.REVIEW_REQUEST),
    ],
)
def test_negation_is_read_just_before_the_cue(text: str, kind: IntentKind) -> None:
    assert complainant_intent(text, "Re: x").kind == kind


def test_word_bounds_near_agrees_with_the_whole_segmentation() -> None:
    text = "好多位置泄露起诉多位用户提起诉讼" * 50 + " abc 宽带断网 " + "诈骗冒充客服" * 30
    whole = word_bounds(text)
    for start in range(0, len(text) - 2, 7):
        near = word_bounds_near(text, start, start + 2)
        assert {i for i in near if start <= i <= start + 2} == {
            i for i in whole if start <= i <= start + 2
        }


@pytest.mark.parametrize(
    ("text", "amounts"),
    [
        ("退款1,280元", [("1,280元", 1280.0)]),
        ("价格,100元", [("100元", 100.0)]),
        ("以上200元", [("200元", 200.0)]),
        ("损失二十万元", [("二十万元", 200000.0)]),
        ("1" * 5000 + "元", [("1" * 5000 + "元", float("1" * 5000))]),
        ("一" * 5000, []),
    ],
)
def test_amounts_start_where_their_number_starts(text: str, amounts: list) -> None:
    assert find_amounts(text, {}) == amounts


@pytest.mark.parametrize(
    ("value", "stripped"),
    [
        ("mx.example.org (a (nested) comment); dkim=pass", "mx.example.org  ; dkim=pass"),
        ("a (x \\) y) b", "a   b"),  # a quoted-pair does not close the comment
        ('a "(not a comment)" b', 'a "(not a comment)" b'),  # RFC 5322 quoted-string
        ("a (unclosed", "a "),
        ("a ) b", "a ) b"),
        ("(" * 10_000 + "x" + ")" * 10_000 + "; dkim=pass", " ; dkim=pass"),
    ],
)
def test_authentication_results_comments_are_dropped_in_one_pass(value: str, stripped: str) -> None:
    assert without_comments(value) == stripped


def test_deeply_nested_comments_hide_nothing() -> None:
    value = "mx.example.org; " + "(" * 20_000 + ")" * 20_000 + " dkim=pass header.d=example.org"
    server, results = parse_authentication_results(value)
    assert server == "mx.example.org"
    assert [(r.method, r.result, r.props) for r in results] == [
        ("dkim", "pass", {"header.d": "example.org"})
    ]


@pytest.mark.parametrize(
    "text",
    [
        "x" * 2990 + " 13812345678 more text",
        "y" * 2950 + " wang.jianguo@example.com 王建国 " + "z" * 5000,
        ("王建国 13812345678 " * 400),
        "短",
    ],
)
def test_the_excerpt_is_the_start_of_the_redacted_text(text: str) -> None:
    view = StaffView("投诉人QX", hidden=True, name="王建国", email="wjg@example.com")
    assert view.excerpt(text, 3001) == view(text)[:3001]
