"""A case's whole life by mail, as deployed: `complaintdesk poller` and a real Dramatiq worker
against Dovecot, Redis, PostgreSQL and an SMTP sink.

A complaint comes in; the staff member replies to their own signed address with `#accept` and
`#办结` and the result under them; the complainant receives the acceptance and the result
(with the review notice and its date) threaded on their complaint, asks for a review, staff
accept it and give the final result, and a later mail is answered that the decision is final.
A forged staff mail on the way changes nothing and is on the case's record.
"""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import make_msgid, parseaddr

import pytest

from tests.integration.conftest import INTAKE, SECRET, Stack, scalar, wait_until
from workers.mail.tokens import reply_address

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COMPLAINANT = "wang.jianguo@example.net"
STAFF = "zhao@example.org"
RESULT = "经核实，商家同意退货并全额退款 2999 元，款项将在 3 个工作日内原路退回。"


def mail(
    frm: str,
    to: str,
    subject: str,
    body: str,
    reply_to: EmailMessage | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = frm, to, subject
    msg["Message-ID"] = make_msgid(domain=frm.rpartition("@")[2].rstrip(">"))
    if reply_to is not None:
        msg["In-Reply-To"] = str(reply_to["Message-ID"])
        msg["References"] = f"{reply_to.get('References', '')} {reply_to['Message-ID']}".strip()
    msg.set_content(body)
    return msg.as_bytes()


def parse(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=default_policy)  # type: ignore[return-value]


def text(msg: EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


class Inbox:
    """What the complainant's and the staff member's mail clients received, in order."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def to(self, address: str) -> list[EmailMessage]:
        return [parse(m.raw) for m in self.stack.sink.messages if address in m.rcpt_tos]

    def wait(self, address: str, subject_part: str, count: int = 1) -> EmailMessage:
        def found() -> list[EmailMessage]:
            hits = [m for m in self.to(address) if subject_part in str(m["Subject"])]
            return hits if len(hits) >= count else []

        return wait_until(found, 90, f"mail '{subject_part}' to {address}", interval=0.3)[-1]


def case_status(stack: Stack, number: str) -> str:
    return scalar(stack.db_url, 'SELECT status FROM "case" WHERE number = %s', number)


def test_a_case_by_mail_from_complaint_to_final_review(stack: Stack) -> None:
    inbox = Inbox(stack)
    stack.start_worker()
    stack.start_poller()
    complaint = mail(
        f"王建国 <{COMPLAINANT}>",
        INTAKE,
        "手机屏幕坏点，商家拒绝退货",
        "我 11 月 1 日在贵平台购买的手机屏幕有坏点，商家拒绝退货，请处理。",
    )
    stack.append_all([complaint])
    ack = inbox.wait(COMPLAINANT, "投诉已受理登记")
    number = str(ack["X-Complaintdesk-Case"])
    staff_address = reply_address(INTAKE, SECRET, number, "zhao")

    # The staff member answers from an ordinary client: commands on top, the result under them.
    stack.append_all(
        [
            mail(
                f"赵主管 <{STAFF}>",
                staff_address,
                f"Re: [{number}] 新投诉",
                f"#accept\n#severity important\n#note 已电话联系商家\n#办结\n\n{RESULT}\n",
            )
        ]
    )
    transcript = inbox.wait(STAFF, "命令执行结果")
    assert text(transcript).count("→ ok") == 4
    assert parseaddr(str(transcript["Reply-To"]))[1] == staff_address
    acceptance = inbox.wait(COMPLAINANT, "投诉已受理：")
    result = inbox.wait(COMPLAINANT, "投诉处理结果")
    complaint_id = str(parse(complaint)["Message-ID"])
    for msg in (acceptance, result):
        assert str(msg["Subject"]).startswith(f"[{number}] ")
        assert str(msg["In-Reply-To"]) == complaint_id  # threaded on the complaint
        assert "已电话联系商家" not in text(msg)
    assert RESULT in text(result) and "5 个工作日内" in text(result)
    assert "当前阶段：已办结" in text(result) and "申请复查的截止日期" in text(result)
    assert case_status(stack, number) == "resolved"

    # A forged staff mail: the right From, but to the plain intake address, no token.
    stack.append_all([mail(f"赵主管 <{STAFF}>", INTAKE, f"Re: [{number}] 结案", "#结案\n")])
    refused = inbox.wait(STAFF, "命令未执行")
    assert "没有发往您本人的签名回复地址" in text(refused)
    assert case_status(stack, number) == "resolved"

    # The complainant asks for a review within the window, answering the result mail.
    stack.append_all(
        [
            mail(
                f"王建国 <{COMPLAINANT}>",
                parseaddr(str(result["Reply-To"]))[1],
                f"Re: {result['Subject']}",
                "我对结果不满意，申请复查。商家至今没有退款。",
                reply_to=result,
            )
        ]
    )
    review_ack = inbox.wait(COMPLAINANT, "复查申请已收到")
    assert "当前阶段：已申请复查" in text(review_ack)
    assert case_status(stack, number) == "review_requested"

    stack.append_all(
        [mail(f"赵主管 <{STAFF}>", staff_address, f"Re: [{number}] 复查", "#复查受理\n")]
    )
    inbox.wait(STAFF, "命令执行结果", count=2)
    stack.append_all(
        [
            mail(
                f"赵主管 <{STAFF}>",
                staff_address,
                f"Re: [{number}] 复查",
                "#review-result\n\n经复查，商家已退款，维持原处理结果。\n",
            )
        ]
    )
    final = inbox.wait(COMPLAINANT, "复查结论（最终结论）")
    assert "维持原处理结果" in text(final) and "最终结论" in text(final)
    assert case_status(stack, number) == "review_resolved"

    stack.append_all(
        [
            mail(
                f"王建国 <{COMPLAINANT}>",
                parseaddr(str(final["Reply-To"]))[1],
                f"Re: {final['Subject']}",
                "我还是不服，要求重新处理！",
                reply_to=final,
            )
        ]
    )
    answer = inbox.wait(COMPLAINANT, "本案件复查结论为最终结论")
    assert "不再重新处理或复查" in text(answer)
    assert case_status(stack, number) == "review_resolved"

    shown = stack.cli("case", "show", number).stdout
    assert "#accept  → ok" in shown and "staff_auth_refused" in shown
    assert "#结案  → not run" in shown
    events = [e["kind"] for e in stack.cli_json("case", "show", number)["events"]]
    assert events.count("staff_commands") == 3 and events.count("staff_auth_refused") == 1
