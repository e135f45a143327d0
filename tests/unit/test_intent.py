"""What a complainant's reply means, in simplified and traditional Chinese and in English."""

from __future__ import annotations

import pytest

from workers.casework.intent import IntentKind, complainant_intent

REPLY = "Re: [TS-2026-000123] 投诉处理结果"
REVIEW, WITHDRAWAL = IntentKind.REVIEW_REQUEST, IntentKind.WITHDRAWAL
SATISFACTION, INFO = IntentKind.SATISFACTION, IntentKind.INFO

# Our result mail as the complainant's client quotes it: it invites a review and a rating.
QUOTED_RESULT = """

在 2026年10月9日周五 10:00，客户服务中心 <complaints@example.org> 写道：
> 您的投诉 [TS-2026-000123] 已办结：商家已全额退款。
> 如不服，可在5个工作日内申请复查（review）；如已解决，请回复满意度 1-5。
> 撤回投诉请直接回复“撤回”。
"""


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # zh-CN
        ("我对处理结果不满意，申请复查。", REVIEW),
        ("不满意，要求重新处理", REVIEW),
        ("我不服这个处理结果", REVIEW),
        ("复查", REVIEW),
        ("我要撤回投诉", WITHDRAWAL),
        ("撤销投诉，问题已经解决了", WITHDRAWAL),
        ("商家已经退款了，不投诉了", WITHDRAWAL),
        ("撤回", WITHDRAWAL),
        # zh-TW
        ("本人對處理結果不服，申請複查", REVIEW),
        ("我要求覆查", REVIEW),
        ("我對處理結果不滿意，要求重新處理", REVIEW),
        ("撤回投訴", WITHDRAWAL),
        ("我決定撤銷投訴", WITHDRAWAL),
        # en
        ("I would like to request a review of the decision.", REVIEW),
        ("I disagree with the decision.", REVIEW),
        ("Not satisfied, I want to appeal.", REVIEW),
        ("Please review my case again, the product was defective.", REVIEW),
        ("Please withdraw my complaint, the shop has refunded me.", WITHDRAWAL),
        ("I wish to cancel my complaint.", WITHDRAWAL),
        ("I no longer want to pursue this.", WITHDRAWAL),
    ],
)
def test_asks(text: str, kind: IntentKind) -> None:
    assert complainant_intent(text + QUOTED_RESULT, REPLY).kind == kind


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("非常满意", 5),
        ("满意", 4),
        ("一般", 3),
        ("不满意", 2),
        ("非常不满意", 1),
        ("您好，\n非常满意，谢谢！", 5),
        ("我对处理结果很满意，谢谢", 5),
        ("满意，已收到退款", 4),
        ("非常滿意", 5),
        ("不太滿意", 2),
        ("5", 5),
        ("１", 1),
        ("4分", 4),
        ("3/5", 3),
        ("★★★★", 4),
        ("Very satisfied, thank you!", 5),
        ("Dissatisfied.", 2),
        ("I am satisfied with the result.", 4),
        ("Hi,\n2", 2),
    ],
)
def test_ratings(text: str, score: int) -> None:
    intent = complainant_intent(text + QUOTED_RESULT, REPLY)
    assert (intent.kind, intent.score) == (SATISFACTION, score)


@pytest.mark.parametrize(
    "text",
    [
        "订单号是 20260930-8812，付款截图见附件。",
        "1. 商品破损\n2. 客服态度差",
        "The parcel arrived on 3 October; 6 items were missing.",
        "我不会撤回投诉，请继续处理。",
        "I do not want to withdraw my complaint.",
        "感谢你们的复查。",
        "收到复查结论。",
        "Thanks for the review.",
        "我要撤回复查申请",
        "I want to cancel my review request.",
        "",
    ],
)
def test_everything_else_is_info(text: str) -> None:
    assert complainant_intent(text + QUOTED_RESULT, REPLY).kind == INFO


# Replies to a result that dispute it without the word 复查: a review request while the review
# window is open (`answering_result`), and plain information for staff at any other time.
DISPUTES = [
    ("不满意，商家到现在都没有退款，请尽快处理。", "不满意"),
    ("The decision is wrong: the shop never refunded me.", "wrong"),
    ("我不同意这个结果", "不同意"),
    ("不认可处理结果，商家提供的检测报告是假的。", "不认可"),
    ("I am not satisfied: the replacement is also broken.", "not satisfied"),
    ("谢谢，但是商家到现在都没有退款", "没有退款"),
    ("商家到现在都没有退款，为什么？", "没有退款"),
    ("Why hasn't the refund arrived yet?", "why hasn't the refund arrived yet?"),
    ("不太满意，商家态度很差", "不太满意,商家态度很差"),
    ("2\n商家态度很差，换货到现在也没寄出", "2 商家态度很差,换货到现在也没寄出"),
    # Substantive text: the complainant states what is still wrong.
    ("收到的商品还是坏的，屏幕依旧有坏点", "收到的商品还是坏的,屏幕依旧有坏点"),
    (
        "Thanks, but the charger is still missing from the box.",
        "thanks, but the charger is still missing from the box.",
    ),
]


@pytest.mark.parametrize(("text", "evidence"), DISPUTES)
def test_reasons_against_the_result_ask_for_a_review_while_the_window_is_open(
    text: str, evidence: str
) -> None:
    intent = complainant_intent(text + QUOTED_RESULT, REPLY, answering_result=True)
    assert (intent.kind, intent.evidence) == (REVIEW, evidence)


@pytest.mark.parametrize("text", [text for text, _ in DISPUTES[:8]])
def test_the_same_words_outside_the_window_are_information_for_staff(text: str) -> None:
    assert complainant_intent(text + QUOTED_RESULT, REPLY).kind == INFO


@pytest.mark.parametrize(
    ("text", "kind", "score"),
    [
        ("满意", SATISFACTION, 4),
        ("5分", SATISFACTION, 5),
        ("不满意", SATISFACTION, 2),  # a bare score gives no reasons
        ("非常不满意\n谢谢", SATISFACTION, 1),
        ("我很满意", SATISFACTION, 5),
        ("thanks", INFO, None),
        ("收到，谢谢。", INFO, None),
        ("好的", INFO, None),
        ("Thank you, the refund arrived today.", INFO, None),
        ("款项已经收到了，非常感谢你们的帮助", INFO, None),
        ("问题已经解决了，谢谢你们", INFO, None),
        ("There is nothing wrong with the result, thank you.", INFO, None),
        ("您好：\n已收到退款。\n王先生", INFO, None),
        ("收到了，我会再联系商家看看", INFO, None),
        ("Hi,\n\nGot it, thanks a lot!\n\n--\nWang", INFO, None),
        ("请问退款什么时候到账？", INFO, None),  # a question, not a dispute: staff answer it
        ("When will the refund arrive?", INFO, None),
        ("", INFO, None),
    ],
)
def test_thanks_ratings_and_questions_on_the_result_stay_what_they_are(
    text: str, kind: IntentKind, score: int | None
) -> None:
    intent = complainant_intent(text + QUOTED_RESULT, REPLY, answering_result=True)
    assert (intent.kind, intent.score) == (kind, score)


def test_quoted_words_of_ours_never_decide() -> None:
    # Only a quote: its 复查, review, 撤回 and 1-5 are our words, not the complainant's.
    assert complainant_intent(QUOTED_RESULT.strip(), REPLY).kind == INFO
    outlook = "OK\n\n-----Original Message-----\nFrom: CS <c@example.org>\nSent: Fri\n\nreview\n"
    assert complainant_intent(outlook, "RE: [TS-2026-000123] Result").kind == INFO
    # Nor while the window is open: a quote alone gives no reasons.
    assert complainant_intent(QUOTED_RESULT.strip(), REPLY, answering_result=True).kind == INFO


def test_own_subject_counts_but_ours_behind_re_does_not() -> None:
    assert complainant_intent("", "申请复查 [TS-2026-000123]").kind == REVIEW
    assert complainant_intent("", "撤回投诉【TS-2026-000123】").kind == WITHDRAWAL
    assert complainant_intent("", "Re: [TS-2026-000123] 复查申请须知").kind == INFO
    assert (
        complainant_intent("补充一张照片", "回复：[TS-2026-000123] 如不服可申请复查").kind == INFO
    )


def test_withdrawal_outranks_review_and_review_outranks_rating() -> None:
    assert complainant_intent("不满意，但算了，撤回投诉吧", REPLY).kind == WITHDRAWAL
    assert complainant_intent("不满意\n申请复查", REPLY).kind == REVIEW


def test_evidence_names_the_deciding_words() -> None:
    assert complainant_intent("我对处理结果不服，申请複查", REPLY).evidence == "不服"
    assert complainant_intent("5", REPLY).evidence == "5"
