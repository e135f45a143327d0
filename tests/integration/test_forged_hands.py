"""Issue 11, forged hands, as deployed (`complaintdesk poller` and a real Dramatiq worker
against Dovecot, Redis, PostgreSQL and an SMTP sink): an Authentication-Results header the
sender wrote authenticates nothing; a forged withdrawal changes nothing and the complainant is
asked at their own address; their confirmation through our mail withdraws; staff reopen it;
and a phishing subject is not repeated to the victim."""

from __future__ import annotations

from email.utils import parseaddr

import pytest

from tests.integration.conftest import INTAKE, SECRET, Stack
from tests.integration.test_lifecycle_e2e import Inbox, case_status, mail, text
from workers.mail.tokens import reply_address

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COMPLAINANT = "wang.jianguo@example.net"
STAFF = "zhao@example.org"


def test_forged_hands_change_nothing(stack: Stack) -> None:
    inbox = Inbox(stack)
    stack.start_worker()
    stack.start_poller()
    stack.append_all(
        [
            mail(
                f"王建国 <{COMPLAINANT}>",
                INTAKE,
                "退款通知：请登录 https://bank-refund.example/login 输入卡号 6222021234567890",
                "我在贵平台购买的手机屏幕有坏点，商家拒绝退货，请处理。",
            )
        ]
    )
    ack = inbox.wait(COMPLAINANT, "投诉已受理登记")
    number = str(ack["X-Complaintdesk-Case"])
    for word in ("http", "bank-refund", "6222021234567890"):
        assert word not in str(ack["Subject"])

    # Staff From, plain intake address, and a header the sender wrote naming our domain.
    forged_staff = mail(f"赵主管 <{STAFF}>", INTAKE, f"Re: [{number}] 受理", "#accept\n")
    forged_staff = (
        b"Authentication-Results: example.org; dmarc=pass header.from=example.org\r\n"
        + forged_staff
    )
    # The complainant's From and the case tag, to the plain intake address.
    forged_withdrawal = mail(
        f"王建国 <{COMPLAINANT}>", INTAKE, f"Re: [{number}] 撤回", "我要撤回投诉，不需要处理了。"
    )
    stack.append_all([forged_staff, forged_withdrawal])
    refused = inbox.wait(STAFF, "命令未执行")
    assert "trusted_authserv_ids" in text(refused) or "签名回复地址" in text(refused)
    asked = inbox.wait(COMPLAINANT, "请确认您的要求")
    assert "没有任何改变" in text(asked)
    assert case_status(stack, number) == "received"

    # The complainant confirms by replying to our mail: its Reply-To is their signed address.
    stack.append_all(
        [
            mail(
                f"王建国 <{COMPLAINANT}>",
                parseaddr(str(asked["Reply-To"]))[1],
                f"Re: {asked['Subject']}",
                "确认，我要撤回投诉。",
                reply_to=asked,
            )
        ]
    )
    inbox.wait(COMPLAINANT, "投诉已撤回")
    assert case_status(stack, number) == "withdrawn"

    # Staff take it up again from their fresh signed address.
    stack.append_all(
        [
            mail(
                f"赵主管 <{STAFF}>",
                reply_address(INTAKE, SECRET, number, "zhao"),
                f"Re: [{number}] 重开",
                "#重开 投诉人电话说明撤回是误操作\n",
            )
        ]
    )
    inbox.wait(COMPLAINANT, "投诉已重新办理")
    assert case_status(stack, number) == "accepted"
