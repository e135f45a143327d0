"""workers.intake.screen: which mail must never be answered, and the reason staff are shown."""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path

import pytest

from workers.intake.screen import bounced_message_ids, returned_message_ids, screen_mail
from workers.mail.parse import ParsedMail, parse_mail

MAIL = Path(__file__).resolve().parent.parent / "fixtures" / "mail"
OWN = frozenset({"complaints@example.org"})
ACK_ID = "ack.TS-2026-000123.20260303T020000.5f2c@complaints.example.org"


def raw(name: str) -> bytes:
    return (MAIL / name).read_bytes()


@functools.cache
def parsed(name: str) -> ParsedMail:
    return parse_mail(raw(name))


def verdict(mail: ParsedMail, **options: object) -> tuple[str, str] | None:
    result = screen_mail(mail, own_addresses=OWN, **options)  # type: ignore[arg-type]
    return (result.kind, result.reason) if result else None


# fixture: (kind, reason) staff will see; None for a person's mail we must answer
EXPECTED = {
    "auto_reply_rfc3834.eml": ("auto_reply", "Auto-Submitted: auto-replied (RFC 3834)"),
    "auto_reply_exchange_ooo.eml": (
        "auto_reply",
        "X-Auto-Response-Suppress: All (automatic mail)",
    ),
    "auto_reply_zh_subject_only.eml": (
        "auto_reply",
        "Out-of-office subject: 自动回复：[TS-2026-000125] 已受理：退款纠纷; answers our case tag",
    ),
    "precedence_bulk.eml": ("auto_reply", "Precedence: bulk (RFC 3834 s2)"),
    "dsn_bounce.eml": ("bounce", "multipart/report; report-type=delivery-status (RFC 3464)"),
    "qq_nonstandard_bounce.eml": (
        "bounce",
        "From postmaster@qq.com: a mail server's delivery report",
    ),
    "real_cpython_dsn_list_bounce.eml": (
        "bounce",
        "Return-Path: <> (null sender, RFC 5321 s4.5.5)",
    ),
    "list_mail.eml": (
        "list",
        "List-Id: Users discussion <users.lists.example.org> (mailing list)",
    ),
    "own_mail.eml": ("own_mail", "X-Complaintdesk-Case: TS-2026-000123 (our own mail)"),
    "received_loop.eml": (
        "loop",
        "60 Received headers, more than 50 (mail loop, RFC 5321 s6.3)",
    ),
    "no_from.eml": ("no_sender", "no usable From address"),
    "bounce_nonstandard_quoted.eml": (
        "bounce",
        "Subject of a delivery report: Mail could not be delivered; quotes our case number",
    ),
    "exim_x_failed_recipients.eml": (
        "bounce",
        "X-Failed-Recipients: nobody@example.net (delivery report)",
    ),
    "x_loop_us.eml": ("loop", "X-Loop: complaints@example.org (names us)"),
    "real_ddeboer_unknown_charset_broken_header_block.eml": (
        "no_sender",
        "no usable From address",
    ),
}
REAL_COMPLAINTS = [
    "person_subject_delivery_failure.eml",
    "person_subject_zh_undelivered.eml",
    "outlook_zh_plain.eml",
    "foxmail_gbk_labelled_gb2312.eml",
    "qq_gbk_attachment_chinese_filename.eml",
    "163_gb2312_subject_b_encoded.eml",
    "raw_8bit_gbk_filename.eml",
    "big5_taiwan.eml",
    "big5hkscs.eml",
    "hz_gb2312.eml",
    "undeclared_gbk_8bit.eml",
    "undeclared_big5_8bit.eml",
    "utf8_labelled_gbk.eml",
    "gbk_labelled_utf8.eml",
    "html_only_zh.eml",
    "gmail_html_reply.eml",
    "reply_with_quote_gmail.eml",
    "reply_with_quote_outlook_zh.eml",
    "apple_mail_zh.eml",
    "english_complaint.eml",
    "no_message_id.eml",
    "rfc2231_filename.eml",
    "attachment_filename_with_path.eml",
    "forward_as_attachment_evidence.eml",
    "crlf_injection_subject.eml",
    "template_injection.eml",
    "nul_bytes.eml",
    "auto_submitted_no.eml",
    "real_talon_apple_mail_reply.eml",
]


@pytest.mark.parametrize("name", EXPECTED)
def test_fixture_verdict(name: str) -> None:
    assert verdict(parsed(name)) == EXPECTED[name]


@pytest.mark.parametrize("name", REAL_COMPLAINTS)
def test_people_are_answered(name: str) -> None:
    assert verdict(parsed(name)) is None


def test_every_fixture_is_judged_by_this_file() -> None:
    judged = set(EXPECTED) | set(REAL_COMPLAINTS)
    undecided = {p.name for p in MAIL.glob("*.eml")} - judged
    # real samples whose verdict says nothing about our rules
    assert undecided <= {
        "real_cpython_no_header_separator.eml",
        "real_cpython_outlook_express_mac_reused_boundary.eml",
        "real_ddeboer_encoded_filename_no_headers.eml",
        "real_ddeboer_exchange_no_charset.eml",
        "real_ddeboer_x_gbk_charset.eml",
    }


# --- each rule on an otherwise ordinary complaint -------------------------------------------


def complaint(**changes: object) -> ParsedMail:
    """The Outlook complaint with some headers or fields changed."""
    base = parsed("outlook_zh_plain.eml")
    headers = dict(base.headers)
    headers.update(changes.pop("headers", {}))  # type: ignore[arg-type]
    return dataclasses.replace(base, headers=headers, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"auto-submitted": ["auto-generated"]}, "Auto-Submitted: auto-generated (RFC 3834)"),
        (
            {"auto-submitted": ["auto-notified; owner-email=x@y"]},
            "Auto-Submitted: auto-notified; owner-email=x@y (RFC 3834)",
        ),
        ({"x-autoreply": ["yes"]}, "X-Autoreply: yes (automatic mail)"),
        ({"x-autorespond": ["true"]}, "X-Autorespond: true (automatic mail)"),
        (
            {"x-auto-response-suppress": ["OOF, AutoReply"]},
            "X-Auto-Response-Suppress: OOF, AutoReply (automatic mail)",
        ),
        ({"precedence": ["junk"]}, "Precedence: junk (RFC 3834 s2)"),
        ({"precedence": ["auto_reply"]}, "Precedence: auto_reply (RFC 3834 s2)"),
    ],
)
def test_auto_reply_headers(headers: dict[str, list[str]], expected: str) -> None:
    assert verdict(complaint(headers=headers)) == ("auto_reply", expected)


@pytest.mark.parametrize("value", ["no", "No", " no "])
def test_auto_submitted_no_is_a_person(value: str) -> None:
    assert verdict(complaint(headers={"auto-submitted": [value]})) is None


# One of our own Message-IDs (workers.mail.compose.new_message_id) and a stranger's.
OUR_ID = "177299040012.4242.8723645011223344556.cd@example.org"
THEIR_ID = "TY2PR06MB3456A1B2C3D4E5F6@TY2PR06MB3456.apcprd06.prod.outlook.com"


@pytest.mark.parametrize(
    "subject",
    [
        "自动回复：宽带故障投诉",
        "自動回覆: 寬頻斷線申訴",
        "Auto-Reply: your message",
        "Out of Office: back on Monday",
        "休假",
        "休假通知：3月2日至9日",
        "不在办公室：请联系同事",
    ],
)
def test_out_of_office_subjects_answering_our_mail(subject: str) -> None:
    assert verdict(complaint(subject=subject, in_reply_to=[OUR_ID])) == (
        "auto_reply",
        f"Out-of-office subject: {subject}; answers our own mail",
    )
    # The subject alone is what a person may write too.
    assert verdict(complaint(subject=subject)) is None


@pytest.mark.parametrize(
    "subject", ["自动答复: [TS-2026-000123] 已受理", "Automatic reply: [TS-2026-000123]"]
)
def test_out_of_office_subjects_quoting_our_subject(subject: str) -> None:
    assert verdict(complaint(subject=subject)) == (
        "auto_reply",
        f"Out-of-office subject: {subject}; answers our case tag",
    )


# Issue 11 item 3: subjects that screened genuine complaints out.
PEOPLES_SUBJECTS = [
    "Delivery failure: my parcel never arrived",
    "Returned mail - you lost my package",
    "未送达：快递三天没到",
    "无法送达：包裹被退回",
    "Out of office hours your shop was closed",
    "Auto reply from your hotline is useless",
    "自动回复机器人答非所问",
    "Undeliverable parcel, nobody called me",
    "Mail could not be delivered to my flat, says your courier",
]


@pytest.mark.parametrize("subject", PEOPLES_SUBJECTS)
def test_a_subject_alone_never_screens_a_person(subject: str) -> None:
    mail = complaint(subject=subject, in_reply_to=[THEIR_ID], references=[THEIR_ID])
    assert verdict(mail) is None


@pytest.mark.parametrize("subject", PEOPLES_SUBJECTS)
@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"from_addr": "mailer-daemon@mx.example.cn"}, "bounce"),
        ({"headers": {"return-path": ["<>"]}}, "bounce"),
        ({"headers": {"x-failed-recipients": ["a@example.net"]}}, "bounce"),
        ({"headers": {"auto-submitted": ["auto-replied"]}}, "auto_reply"),
        ({"headers": {"x-autoreply": ["yes"]}}, "auto_reply"),
        ({"headers": {"precedence": ["auto_reply"]}}, "auto_reply"),
    ],
)
def test_machines_with_such_subjects_stay_screened(
    subject: str, changes: dict[str, object], kind: str
) -> None:
    result = verdict(complaint(subject=subject, **changes))
    assert result is not None and result[0] == kind


def test_x_loop_naming_us_is_a_loop() -> None:
    assert verdict(complaint(headers={"x-loop": ["Complaints@example.org"]})) == (
        "loop",
        "X-Loop: Complaints@example.org (names us)",
    )
    assert verdict(complaint(headers={"x-loop": ["helpdesk@example.net"]})) is None
    assert verdict(complaint(headers={"x-loop": ["RT <complaints@example.org>"]})) is not None
    started = time.perf_counter()
    assert verdict(complaint(headers={"x-loop": ["a" * 100_000] * 50})) is None
    assert time.perf_counter() - started < 0.5


def test_x_failed_recipients_is_a_bounce() -> None:
    assert verdict(complaint(headers={"x-failed-recipients": ["lost@example.net"]})) == (
        "bounce",
        "X-Failed-Recipients: lost@example.net (delivery report)",
    )


@pytest.mark.parametrize(
    "subject",
    [
        "休假期间宽带断线，要求赔偿",
        "投诉：自动回复的邮件没有处理我的问题",
        "关于退信率的投诉",
        "退信率太高，邮件总是发不出去",
        "Re: 宽带故障",
    ],
)
def test_complaints_that_merely_mention_the_words(subject: str) -> None:
    assert verdict(complaint(subject=subject)) is None


@pytest.mark.parametrize(
    "subject",
    [
        "Undelivered Mail Returned to Sender",
        "Delivery Status Notification (Failure)",
        "Mail delivery failed: returning message to sender",
        "Returned mail: see transcript for details",
        "Mail could not be delivered",
        "系统退信",
        "退信",
    ],
)
def test_bounce_subjects_answering_our_mail(subject: str) -> None:
    assert verdict(complaint(subject=subject, references=[THEIR_ID, OUR_ID])) == (
        "bounce",
        f"Subject of a delivery report: {subject}; answers our own mail",
    )
    assert verdict(complaint(subject=subject, from_addr="no-reply@mail.example.net")) == (
        "bounce",
        f"Subject of a delivery report: {subject}; sent by no-reply@mail.example.net",
    )
    assert verdict(complaint(subject=subject)) is None


@pytest.mark.parametrize(
    "subject",
    [
        "Undeliverable: [TS-2026-000123] 已受理",
        "退信：[TS-2026-000126] 已受理",
        "无法送达: [TS-2026-000123]",
    ],
)
def test_bounce_subjects_quoting_our_subject(subject: str) -> None:
    assert verdict(complaint(subject=subject)) == (
        "bounce",
        f"Subject of a delivery report: {subject}; answers our case tag",
    )


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example.cn", "postmaster@163.com"])
def test_mailer_daemon_sender_is_a_bounce(sender: str) -> None:
    result = verdict(complaint(from_addr=sender.lower()))
    assert result is not None and result[0] == "bounce"


def test_null_return_path_is_a_bounce() -> None:
    assert verdict(complaint(headers={"return-path": ["<>"]})) == (
        "bounce",
        "Return-Path: <> (null sender, RFC 5321 s4.5.5)",
    )


def test_read_receipt_is_an_automatic_answer_not_a_bounce() -> None:
    ctype = "multipart/report; report-type=disposition-notification; boundary=x"
    kind, reason = verdict(complaint(headers={"content-type": [ctype]}))
    assert kind == "auto_reply" and "read receipt" in reason


@pytest.mark.parametrize(
    ("header", "shown"),
    [
        ("list-unsubscribe", "List-Unsubscribe"),
        ("list-post", "List-Post"),
        ("mailing-list", "Mailing-List"),
    ],
)
def test_list_headers(header: str, shown: str) -> None:
    value = "<mailto:users@lists.example.org>"
    assert verdict(complaint(headers={header: [value]})) == (
        "list",
        f"{shown}: {value} (mailing list)",
    )


def test_precedence_list_is_list_mail() -> None:
    assert verdict(complaint(headers={"precedence": ["list"]})) == (
        "list",
        "Precedence: list (RFC 3834 s2)",
    )


@pytest.mark.parametrize(
    "sender",
    ["complaints@example.org", "complaints+ts-2026-000123.k3f9x2@example.org"],
)
def test_from_our_own_address(sender: str) -> None:
    assert verdict(complaint(from_addr=sender)) == (
        "own_mail",
        f"From is our own address {sender}",
    )


def test_own_addresses_compared_without_case() -> None:
    mail = complaint(from_addr="complaints@example.org")
    result = screen_mail(mail, own_addresses=frozenset({"Complaints@Example.ORG"}))
    assert result is not None and result.kind == "own_mail"


def test_hop_limit_is_configurable() -> None:
    assert verdict(complaint(received_hops=50)) is None
    assert verdict(complaint(received_hops=51)) == (
        "loop",
        "51 Received headers, more than 50 (mail loop, RFC 5321 s6.3)",
    )
    assert verdict(parsed("received_loop.eml"), max_received_hops=100) is None


def test_bounce_wins_over_its_auto_submitted_header() -> None:
    # RFC 3464 reports carry Auto-Submitted too; they must be handled as bounces.
    mail = parsed("dsn_bounce.eml")
    assert mail.headers["auto-submitted"] == ["auto-replied"]
    assert verdict(mail) is not None and verdict(mail)[0] == "bounce"  # type: ignore[index]


def test_long_header_values_are_shortened_in_the_reason() -> None:
    result = verdict(complaint(headers={"auto-submitted": ["auto-generated " + "x" * 200]}))
    assert result is not None and len(result[1]) < 120 and result[1].endswith("… (RFC 3834)")


# --- which of our mails a bounce is about ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ids"),
    [
        ("dsn_bounce.eml", [ACK_ID]),
        (
            "qq_nonstandard_bounce.eml",
            ["ack.TS-2026-000126.20260305T010000.9a1b@complaints.example.org"],
        ),
        ("real_cpython_dsn_list_bounce.eml", ["002001c144a6$8752e060$56104586@oxy.edu"]),
    ],
)
def test_bounced_message_ids(name: str, ids: list[str]) -> None:
    assert bounced_message_ids(parsed(name), raw(name)) == ids


def test_bounce_without_a_returned_copy_falls_back_to_threading_headers() -> None:
    mail = parsed("auto_reply_exchange_ooo.eml")
    assert bounced_message_ids(mail, raw("auto_reply_exchange_ooo.eml")) == [ACK_ID]


def test_unreadable_bounce_names_no_message() -> None:
    mail = dataclasses.replace(parsed("english_complaint.eml"), in_reply_to=[], references=[])
    assert bounced_message_ids(mail, b"\xff\xfe garbage") == []


# --- issue 11 item 4: returned mail recognised by what it carries -------------------------------


def _mail(headers: list[str], body: str, ctype: str = "text/plain; charset=utf-8") -> ParsedMail:
    lines = [*headers, "MIME-Version: 1.0", f"Content-Type: {ctype}"]
    return parse_mail(("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode())


OUR_ACK_HEADERS = (
    "From: 客户服务中心 <complaints@example.org>\n"
    "To: lihua@qq.com\n"
    "Subject: [TS-2026-000123] 已受理：宽带断网\n"
    f"Message-ID: <{OUR_ID}>\n"
    "X-Complaintdesk-Case: TS-2026-000123\n"
)


def test_a_nonstandard_bounce_quoting_our_mail_is_returned_mail() -> None:
    body = (
        "Mail could not be delivered to lihua@qq.com: mailbox full.\n\n"
        "------ Original message ------\n" + OUR_ACK_HEADERS + "\n您的投诉已受理。\n"
    )
    mail = _mail(["From: Mail Service <service@mx.qq-relay.example>", "Subject: Notice"], body)
    assert verdict(mail) == ("bounce", f"returned mail: carries our Message-ID <{OUR_ID}>")


def test_our_marker_alone_in_a_quoted_copy_is_returned_mail() -> None:
    body = "Your message was not delivered.\n> X-Complaintdesk-Case: TS-2026-000123\n> 已受理\n"
    mail = _mail(["From: gateway@relay.example.net", "Subject: Notice"], body)
    assert verdict(mail) == ("bounce", "returned mail: carries our X-Complaintdesk-Case header")


def test_our_mail_attached_whole_is_returned_mail() -> None:
    body = (
        "--b\nContent-Type: text/plain\n\nCould not deliver.\n"
        "--b\nContent-Type: message/rfc822\n\n" + OUR_ACK_HEADERS + "\n已受理\n--b--\n"
    )
    mail = _mail(
        ["From: relay@relay.example.net", "Subject: Problem"], body, "multipart/mixed; boundary=b"
    )
    result = verdict(mail)
    assert result is not None and result[0] == "bounce" and OUR_ID in result[1]
    assert returned_message_ids(mail, OWN) == [OUR_ID]


def test_an_attached_copy_from_our_address_is_returned_mail() -> None:
    copy = "From: complaints@example.org\nSubject: [TS-2026-000123] x\n\nbody\n"
    body = (
        "--b\nContent-Type: text/plain\n\nRejected.\n"
        "--b\nContent-Type: text/rfc822-headers\nContent-Disposition: attachment; "
        "filename=h.txt\n\n" + copy + "--b--\n"
    )
    mail = _mail(
        ["From: relay@relay.example.net", "Subject: Notice"], body, "multipart/mixed; boundary=b"
    )
    assert verdict(mail) == (
        "bounce",
        "returned mail: carries a copy of our mail from complaints@example.org",
    )


def test_our_mail_back_with_its_headers_stripped_is_our_own_mail() -> None:
    mail = _mail(
        [
            "From: lihua@qq.com",
            "Subject: [TS-2026-000123] 已受理：宽带断网",
            f"Message-ID: <{OUR_ID}>",
        ],
        "您的投诉已受理。",
    )
    assert verdict(mail) == ("own_mail", f"Message-ID <{OUR_ID}> is ours")


def test_bounce_subject_with_our_tag_only_in_the_quoted_body() -> None:
    body = "Delivery to the following recipient failed.\n\n> [TS-2026-000123] 已受理\n"
    mail = _mail(["From: relay@relay.example.net", "Subject: Mail could not be delivered"], body)
    assert verdict(mail) == (
        "bounce",
        "Subject of a delivery report: Mail could not be delivered; quotes our case number",
    )


def test_bounce_subject_with_our_bare_case_number_in_a_quoted_body() -> None:
    body = "Your mail was returned.\n\n您好：我们已收到您的投诉，案件编号为 TS-2026-000123。\n"
    mail = _mail(["From: relay@relay.example.net", "Subject: Undelivered Mail"], body)
    assert verdict(mail) == (
        "bounce",
        "Subject of a delivery report: Undelivered Mail; quotes our case number",
    )


def test_a_person_quoting_our_reply_is_not_returned_mail() -> None:
    body = (
        "补充：还是断网。\n\n在 2026年3月3日，客户服务中心 写道：\n"
        "> [TS-2026-000123] 已受理\n> 您的投诉已受理。\n"
    )
    mail = _mail(["From: lihua@qq.com", "Subject: Re: [TS-2026-000123] 已受理"], body)
    assert verdict(mail) is None


def test_finding_our_ids_is_linear_on_digit_runs() -> None:
    body = "1" * 60_000 + ".cd@example.org " * 2000
    mail = _mail(["From: a@example.net", "Subject: x"], body)
    started = time.perf_counter()
    verdict(mail)
    assert time.perf_counter() - started < 0.5
