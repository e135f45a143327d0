"""Quoted originals and signatures are cut off replies from the clients people really use."""

from __future__ import annotations

import pytest

from workers.mail.quoting import strip_quoted

GMAIL_EN = """\
#resolve
The refund of 299 yuan was approved today.

On Wed, Sep 30, 2026 at 10:00 AM Customer Service <complaints@example.org> wrote:
> Dear Li Hua,
>
> Your complaint [TS-2026-000123] was received.
"""

GMAIL_EN_WRAPPED = """\
I still have not received the refund.

On Wed, Sep 30, 2026 at 10:00 AM Customer Service Centre <complaints+TS-2026-000123.k3f9x2@
example.org> wrote:

> Please reply with your order number.
"""

GMAIL_ZH = """\
订单号是 20260930-8812，截图见附件。

在 2026年9月30日周三 10:00，客户服务中心 <complaints@example.org> 写道：

> 您好，请补充订单号和付款截图。
>
> 客户服务中心
"""

OUTLOOK_EN = """\
#accept
#assign legal

Please check the contract terms.

-----Original Message-----
From: Customer Service <complaints@example.org>
Sent: Wednesday, September 30, 2026 10:00 AM
To: Zhao <zhao@example.org>
Subject: [TS-2026-000123] New complaint

A new complaint was assigned to your group.
"""

OUTLOOK_HEADER_BLOCK = """\
Thank you, I accept the result.

From: Customer Service <complaints@example.org>
Sent: Wednesday, September 30, 2026 10:00 AM
To: Li Hua <lihua@example.com>
Subject: [TS-2026-000123] Result of your complaint

We have decided to refund the full amount.
"""

OUTLOOK_WEB = """\
Please withdraw my complaint.

________________________________
From: Customer Service <complaints@example.org>
Sent: Wednesday, September 30, 2026 10:00
To: Li Hua
Subject: [TS-2026-000123] Acknowledgement
"""

OUTLOOK_ZH = """\
#受理
已联系商家。

发件人: 客户服务中心 <complaints@example.org>
发送时间: 2026年9月30日 10:00
收件人: 赵主管 <zhao@example.org>
主题: [TS-2026-000123] 新投诉

有一件新投诉分派给您的小组。
"""

OUTLOOK_ZH_FULLWIDTH = """\
我不投诉了。

发件人：客户服务中心 <complaints@example.org>
发送时间：2026年9月30日 10:00
收件人：李华
主题：[TS-2026-000123] 受理通知
"""

OUTLOOK_HTML2TEXT = """\
Agreed, thanks.

**From:** Customer Service <complaints@example.org>
**Sent:** Wednesday, September 30, 2026 10:00 AM
**Subject:** [TS-2026-000123] Result
"""

FOXMAIL = """\
满意

------------------ 原始邮件 ------------------
发件人: "客户服务中心"<complaints@example.org>;
发送时间: 2026年9月30日(星期三) 上午10:00
收件人: "李华"<lihua@qq.com>;
主题: [TS-2026-000123] 处理结果

请对本次处理进行评价。
"""

QQ_ORIGINAL_NBSP = """\
5

------------------&nbsp;Original&nbsp;------------------
From: "Customer Service"<complaints@example.org>;
Date: Wed, Sep 30, 2026 10:00 AM
Subject: [TS-2026-000123] How did we do?
"""

NETEASE_163 = """\
我对处理结果不满意，申请复查。

在 2026-09-30 10:00:00，"客户服务中心" <complaints@example.org> 写道：
> 经调查，商家已按规定退款，本投诉办结。
> 如不服，可在5个工作日内申请复查。
"""

NETEASE_REPLIED_MESSAGE = """\
补充材料见附件。

---- Replied Message ----
| From | 客户服务中心<complaints@example.org> |
| Date | 09/30/2026 10:00 |
"""

APPLE_ZH = """\
好的，谢谢。

发自我的iPhone

> 2026年9月30日 10:00，客户服务中心 <complaints@example.org> 写道：
>
> 您的投诉已受理。
"""

APPLE_EN = """\
Please review the decision, the product was clearly defective.

> On 30 Sep 2026, at 10:00, Customer Service <complaints@example.org> wrote:
>
> Your complaint was not upheld.
"""

# RFC 3676 §4.3: the signature separator is "-- " with its trailing space.
SIGNATURE = (
    "#reply\n"
    "We have contacted the merchant and expect an answer by Friday.\n"
    "\n"
    "-- \n"
    "Li, Customer Service\n"
    "Tel. 010-12345678\n"
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (GMAIL_EN, "#resolve\nThe refund of 299 yuan was approved today."),
        (GMAIL_EN_WRAPPED, "I still have not received the refund."),
        (GMAIL_ZH, "订单号是 20260930-8812，截图见附件。"),
        (OUTLOOK_EN, "#accept\n#assign legal\n\nPlease check the contract terms."),
        (OUTLOOK_HEADER_BLOCK, "Thank you, I accept the result."),
        (OUTLOOK_WEB, "Please withdraw my complaint."),
        (OUTLOOK_ZH, "#受理\n已联系商家。"),
        (OUTLOOK_ZH_FULLWIDTH, "我不投诉了。"),
        (OUTLOOK_HTML2TEXT, "Agreed, thanks."),
        (FOXMAIL, "满意"),
        (QQ_ORIGINAL_NBSP, "5"),
        (NETEASE_163, "我对处理结果不满意，申请复查。"),
        (NETEASE_REPLIED_MESSAGE, "补充材料见附件。"),
        (APPLE_ZH, "好的，谢谢。"),
        (APPLE_EN, "Please review the decision, the product was clearly defective."),
        (SIGNATURE, "#reply\nWe have contacted the merchant and expect an answer by Friday."),
    ],
    ids=[
        "gmail-en",
        "gmail-en-wrapped",
        "gmail-zh",
        "outlook-original-message",
        "outlook-header-block",
        "outlook-web",
        "outlook-zh",
        "outlook-zh-fullwidth-colon",
        "outlook-html2text",
        "foxmail",
        "qq-nbsp",
        "163",
        "163-replied-message",
        "apple-zh",
        "apple-en",
        "signature",
    ],
)
def test_reply_keeps_only_the_new_text(body: str, expected: str) -> None:
    assert strip_quoted(body) == expected


def test_crlf_line_endings() -> None:
    assert strip_quoted(GMAIL_ZH.replace("\n", "\r\n")) == "订单号是 20260930-8812，截图见附件。"


def test_plain_angle_quote() -> None:
    assert strip_quoted("Yes, that is my order.\n> Is 8812 your order?\n") == (
        "Yes, that is my order."
    )


def test_bottom_posted_reply_is_kept() -> None:
    body = (
        "On Wed, Sep 30, 2026 at 10:00 AM Customer Service <complaints@example.org> wrote:\n"
        "> Please send your order number.\n"
        "\n"
        "It is 20260930-8812.\n"
    )
    assert strip_quoted(body) == "It is 20260930-8812."


def test_interleaved_answers_are_kept() -> None:
    body = "> Order number?\n8812\n> Date of purchase?\n1 September\n"
    assert strip_quoted(body) == "8812\n1 September"


def test_text_without_quote_is_unchanged_but_trimmed() -> None:
    assert (
        strip_quoted("\n\n商品到货即损坏。\n\n请尽快处理。  \n\n")
        == "商品到货即损坏。\n\n请尽快处理。"
    )


@pytest.mark.parametrize(
    "body",
    [
        "他在2026年3月的来信中写道：\n商品保证正品。\n但收到的是假货。",
        "On Monday I called the shop.\nThe clerk wrote: no refunds.\nThat is unfair.",
        "谢谢\n在家等了三天，快递员写道：\n已签收。",
    ],
)
def test_prose_that_looks_like_an_attribution_is_not_cut(body: str) -> None:
    assert strip_quoted(body) == body


def test_a_from_line_in_prose_is_not_a_header_block() -> None:
    body = "From: the seller's shop in Hangzhou\nthe parcel never arrived."
    assert strip_quoted(body) == body


def test_mobile_signature_is_cut() -> None:
    assert strip_quoted("I withdraw my complaint.\n\nSent from my iPhone\n") == (
        "I withdraw my complaint."
    )
