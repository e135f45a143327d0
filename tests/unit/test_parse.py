"""workers.mail.parse: what a user sees of each fixture mail, and that no mail can crash the parser."""

from __future__ import annotations

import functools
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from workers.mail.parse import (
    MailParseError,
    ParsedMail,
    addresses,
    detect_language,
    parse_mail,
    strip_reply_prefixes,
)

MAIL = Path(__file__).resolve().parent.parent / "fixtures" / "mail"
ALL_FIXTURES = sorted(path.name for path in MAIL.glob("*.eml"))


def raw(name: str) -> bytes:
    return (MAIL / name).read_bytes()


@functools.cache
def parsed(name: str) -> ParsedMail:
    return parse_mail(raw(name))


def names(mail: ParsedMail) -> list[str]:
    return [attachment.filename for attachment in mail.attachments]


# --- what each client's mail looks like once parsed -------------------------------------

# fixture: (subject, from_addr, from_name, a line of the body)
HEADLINES = {
    "outlook_zh_plain.eml": (
        "宽带故障投诉：家中宽带连续三天无法上网",
        "lihua1988@outlook.com",
        "李华",
        "请尽快安排上门维修，并按照服务协议减免故障期间的月租费。",
    ),
    "foxmail_gbk_labelled_gb2312.eml": (
        "营业厅把“王堃”登记成“王坤”的投诉",
        "wangkun_hz@foxmail.com",
        "王堃",
        "附件是我的身份证照片，请核实后更正登记信息，并赔偿停机期间的损失。",
    ),
    "qq_gbk_attachment_chinese_filename.eml": (
        "退款纠纷：取消套餐后仍被扣费198元",
        "1234567890@qq.com",
        "小王",
        "请退还多扣的198元。",
    ),
    "163_gb2312_subject_b_encoded.eml": (
        "关于“千兆宽带”虚假宣传的投诉（实测不足100M）",
        "zhangwei_2020@163.com",
        "张伟",
        "这属于虚假宣传。请按宣传标准提速，或者允许我无违约金退订并退还安装费200元。",
    ),
    "raw_8bit_gbk_filename.eml": (
        "补充材料：营业厅收据",
        "zhaomin@sina.com",
        "赵敏",
        "附件是营业厅开的收据，请查收。",
    ),
    "big5_taiwan.eml": (
        "寬頻斷線申訴",
        "meiling.chen@example.com.tw",
        "陳美玲",
        "本人於台北市中山區申裝的光纖寬頻，自三月一日起每晚斷線，客服人員多次表示會派員處理，至今仍未改善。",
    ),
    "big5hkscs.eml": (
        "寬頻成日斷線，冇人嚟整",
        "kaming.ho@example.com.hk",
        "何家明",
        "我屋企嘅寬頻成日斷線，打咗三次電話都冇人嚟整，啲客服仲話係我部機嘅問題。",
    ),
    "hz_gb2312.eml": (
        "个人信息被冒用",
        "old.user@example.net",
        "",
        "我的手机号码被人冒用办理了宽带业务，我从未签过合同，请调查个人信息泄露的原因。",
    ),
    "undeclared_gbk_8bit.eml": (
        "个人信息泄露投诉",
        "liuyang@example.cn",
        "刘洋",
        "我怀疑贵公司或营业厅工作人员泄露了我的个人信息，请调查并给我书面答复。",
    ),
    "undeclared_big5_8bit.eml": (
        "個人資料外洩申訴",
        "zhiming.lin@example.com.tw",
        "林志明",
        "我在貴公司門市辦理續約後，隔天就接到多通推銷電話，對方清楚知道我的姓名、地址與方案內容，"
        "懷疑個人資料外洩，請調查並書面回覆。",
    ),
    "utf8_labelled_gbk.eml": (
        "退款迟迟不到账",
        "sunli@example.cn",
        "孙丽",
        "您好，我3月2日申请退订宽带，客服承诺7个工作日内退还预存费300元，现在已经过去15天，钱还没有到账。请尽快处理。",
    ),
    "gbk_labelled_utf8.eml": (
        "套餐资费与宣传不符，要求退还差价",
        "zhoujie@example.cn",
        "周杰",
        "你们的工作人员电话推销时说新套餐每月只要59元，结果第一个月账单是129元，多出来的是所谓“功能费”，事先根本没有告知。要求按59元收费并退还差价。",
    ),
    "apple_mail_zh.eml": (
        "手机营业厅擅自开通增值业务",
        "wujing@icloud.com",
        "吴静",
        "请全额退还60元，并关闭该业务。",
    ),
    "english_complaint.eml": (
        "Refund dispute: charged after cancellation",
        "thomas.baker@example.com",
        "Thomas Baker",
        "Please refund the charge within 7 days and confirm that the contract is closed.",
    ),
    "real_talon_apple_mail_reply.eml": (
        "Re: Hello there",
        "adam@tictail.com",
        "Adam Renberg",
        "Hello",
    ),
    "real_ddeboer_x_gbk_charset.eml": ("Nuu", "from@there.com", "", "Hi"),
}


@pytest.mark.parametrize("name", HEADLINES)
def test_subject_sender_and_body_read_as_written(name: str) -> None:
    subject, from_addr, from_name, body_line = HEADLINES[name]
    mail = parsed(name)
    assert mail.subject == subject
    assert mail.from_addr == from_addr
    assert mail.from_name == from_name
    assert body_line in mail.body_text.splitlines()


# fixture: attachment filenames as the user sees them
ATTACHMENTS = {
    "foxmail_gbk_labelled_gb2312.eml": ["王堃身份证.jpg"],
    "qq_gbk_attachment_chinese_filename.eml": ["扣费账单截图.png", "退订确认短信.jpg"],
    "raw_8bit_gbk_filename.eml": ["营业厅收据.pdf"],
    "rfc2231_filename.eml": ["宽带故障报修记录以及客服通话录音.mp3", "证据清单.txt"],
    "attachment_filename_with_path.eml": ["合同.pdf", "passwd"],
    "apple_mail_zh.eml": ["IMG_2034.jpeg"],
    "real_ddeboer_encoded_filename_no_headers.eml": ["Prostřeno_2014_poslední volné termíny.xls"],
    "outlook_zh_plain.eml": [],
}


@pytest.mark.parametrize("name", ATTACHMENTS)
def test_attachment_names_decoded(name: str) -> None:
    assert names(parsed(name)) == ATTACHMENTS[name]


def test_attachment_payload_is_the_decoded_file() -> None:
    png = parsed("qq_gbk_attachment_chinese_filename.eml").attachments[0]
    assert png.payload.startswith(b"\x89PNG\r\n\x1a\n")
    listing = parsed("rfc2231_filename.eml").attachments[1]
    assert listing.content_type == "text/plain"
    assert listing.payload.decode("gbk") == "1. 报修工单\n2. 通话录音\n"


def test_apple_mail_body_joined_around_inline_picture() -> None:
    body = parsed("apple_mail_zh.eml").body_text
    assert body.index("截图如下：") < body.index("请全额退还60元")


def test_forwarded_mail_is_an_attachment_not_the_body() -> None:
    mail = parsed("forward_as_attachment_evidence.eml")
    assert mail.body_text == "这是我收到的宣传邮件，说首年免费，实际每月收费。\n"
    [forwarded] = mail.attachments
    assert forwarded.content_type == "message/rfc822"
    assert forwarded.filename.endswith(".eml")
    assert "首年免费，无任何隐藏费用！" in forwarded.payload.decode("utf-8")
    assert mail.clean_subject == "限时特惠：千兆宽带首年免费"


def test_html_only_mail_turned_into_readable_text() -> None:
    mail = parsed("html_only_zh.eml")
    lines = [line.strip() for line in mail.body_text.splitlines()]
    assert "我于3月8日在网上营业厅办理了“宽带提速”业务，页面承诺24小时内生效，至今未生效。" in lines
    assert "1. 订单号：WT20260308-8891" in lines
    assert "日期  测速结果" in lines
    assert "详情见 订单页面。" in lines
    for noise in ("alert", "font-family", "http://", "**", "\\", "]("):
        assert noise not in mail.body_text


def test_sanitised_html_loads_nothing_and_runs_nothing() -> None:
    html = parsed("html_only_zh.eml").body_html or ""
    assert "订单号：WT20260308-8891" in html
    assert "<script" not in html and "alert(" not in html and "<style" not in html
    assert "track.example.com" not in html  # remote image never fetched by a viewer
    assert 'href="http://shop.example.com/order/8891"' in html  # links stay, inert


def test_plain_part_preferred_over_html_alternative() -> None:
    mail = parsed("gmail_html_reply.eml")
    assert mail.body_text.startswith(
        "补充一下：维修人员今天上午来过，更换了光猫，但是晚上还是断线。\n"
    )
    assert (
        "> 您好，您的投诉已受理，编号 TS-2026-000123。我们将在5个工作日内答复。" in mail.body_text
    )
    assert mail.body_html is not None and "gmail_quote" not in mail.body_html


def test_reply_threading_headers() -> None:
    mail = parsed("gmail_html_reply.eml")
    ack = "ack.TS-2026-000123.20260303T020000.5f2c@complaints.example.org"
    assert mail.in_reply_to == [ack]
    assert mail.references == [ack]
    assert mail.message_id == "CAJ8xYz3kT+9qW2m=Fh5sVn1Lp0aR7bQe4uD6cG@mail.gmail.com"
    assert mail.to == ["complaints+ts-2026-000123.k3f9x2@example.org"]
    assert mail.clean_subject == "[TS-2026-000123] 已受理：宽带故障投诉"


def test_outlook_zh_reply_keeps_its_quote_and_strips_dafu() -> None:
    mail = parsed("reply_with_quote_outlook_zh.eml")
    assert mail.subject == "答复: [TS-2026-000123] 已受理：宽带故障投诉"
    assert mail.clean_subject == "[TS-2026-000123] 已受理：宽带故障投诉"
    assert "-----原始邮件-----" in mail.body_text.splitlines()
    assert mail.to == ["complaints+ts-2026-000123.k3f9x2@example.org"]


def test_english_mail_addresses_and_date() -> None:
    mail = parsed("english_complaint.eml")
    assert mail.cc == ["legal@example.com"]
    assert mail.to == ["complaints@example.org"]
    assert mail.date == datetime(2026, 3, 15, 18, 20, tzinfo=UTC)
    assert mail.language == "en"


def test_date_keeps_the_senders_offset() -> None:
    date = parsed("outlook_zh_plain.eml").date
    assert date == datetime(2026, 3, 2, 1, 15, 32, tzinfo=UTC)
    assert date is not None and date.utcoffset() == timedelta(hours=8)


def test_missing_headers_are_empty_not_errors() -> None:
    assert parsed("no_message_id.eml").message_id is None
    assert parsed("no_from.eml").from_addr == ""
    assert parsed("no_from.eml").from_name == ""
    assert parsed("real_cpython_no_header_separator.eml").date is None


def test_received_hops_counted() -> None:
    assert parsed("received_loop.eml").received_hops == 60
    assert parsed("real_ddeboer_exchange_no_charset.eml").received_hops == 4


# --- charsets: decoded right, and guesses written down ------------------------------------


@pytest.mark.parametrize(
    ("name", "note"),
    [
        ("foxmail_gbk_labelled_gb2312.eml", "gb2312 read as gb18030"),
        ("big5hkscs.eml", "big5 read as big5hkscs"),
        ("real_ddeboer_x_gbk_charset.eml", None),  # ASCII text: nothing to say
    ],
)
def test_superset_labels_noted_but_certain(name: str, note: str | None) -> None:
    mail = parsed(name)
    assert mail.charset_notes == ([note] if note else [])
    assert mail.charset_uncertain is False


@pytest.mark.parametrize(
    ("name", "note"),
    [
        ("undeclared_gbk_8bit.eml", "charset guessed: gb18030"),
        ("undeclared_big5_8bit.eml", "charset guessed: big5hkscs"),
        ("utf8_labelled_gbk.eml", "gbk label but utf-8 bytes: read as utf-8"),
        ("gbk_labelled_utf8.eml", "utf-8 label does not fit the bytes: charset guessed: gb18030"),
        ("raw_8bit_gbk_filename.eml", "charset guessed: gb18030"),
    ],
)
def test_guessed_charsets_flagged(name: str, note: str) -> None:
    mail = parsed(name)
    assert mail.charset_notes == [note] or note in mail.charset_notes
    assert mail.charset_uncertain is True


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_no_replacement_characters_nul_or_line_breaks(name: str) -> None:
    mail = parsed(name)
    texts = [mail.subject, mail.from_name, mail.body_text, *names(mail)]
    texts += [value for values in mail.headers.values() for value in values]
    for text in texts:
        assert "\ufffd" not in text
        assert "\x00" not in text
    for one_line in [mail.subject, mail.clean_subject, mail.from_name, *names(mail)]:
        assert not any(ch in one_line for ch in "\r\n\t\x0b\x0c\u2028\u2029")


def test_crlf_in_encoded_subject_becomes_a_space() -> None:
    mail = parsed("crlf_injection_subject.eml")
    assert mail.subject == "投诉 Bcc: victim@example.com 尾巴"
    assert mail.from_name == "攻击者 Bcc: victim@example.com"
    assert mail.from_addr == "evil@example.net"


def test_nul_bytes_removed() -> None:
    mail = parsed("nul_bytes.eml")
    assert mail.subject == "宽带故障"
    assert mail.body_text == "宽带断线三天\n"


def test_raw_utf8_headers_are_rfc6532_not_a_guess() -> None:
    mail = parse_mail(
        "From: 张三 <zhangsan@example.cn>\r\nSubject: 宽带故障\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n断线\r\n".encode()
    )
    assert (mail.from_name, mail.subject, mail.body_text) == ("张三", "宽带故障", "断线\n")
    assert (mail.charset_notes, mail.charset_uncertain) == ([], False)


def test_malformed_mail_that_trips_mail_parser_is_still_read() -> None:
    # A base64 word cut mid-character and a NUL in a charset name make mail-parser's own
    # post-processing raise; the mail is still readable and must not be lost.
    mail = parse_mail(
        b"From: =?utf-8?B?5byg5L?= <zhang@example.cn>\r\n"
        b"Subject: =?utf-8?B?5a695bim5pWF6Zqc?=\r\n"
        b'Content-Type: text/plain; charset="utf\x008"\r\n\r\nhello\r\n'
    )
    assert (mail.from_name, mail.from_addr) == ("张", "zhang@example.cn")
    assert mail.subject == "宽带故障"
    assert mail.body_text == "hello\n"
    assert mail.charset_notes == ["utf-8 text cut short: incomplete last character dropped"]


def test_bidi_override_cannot_disguise_a_filename() -> None:
    mail = parse_mail(
        b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; "
        + b"filename*=utf-8''invoice%E2%80%AEfdp.exe"
        + b"\r\n\r\nMZ\r\n--b--\r\n"
    )
    assert names(mail) == ["invoice fdp.exe"]


def test_template_syntax_kept_as_literal_text() -> None:
    mail = parsed("template_injection.eml")
    assert mail.subject == "投诉 {{ 7*7 }} {% raw %}"
    assert "{{ 7*7 }}" in mail.body_text and "49" not in mail.body_text


# --- subjects and language -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "clean"),
    [
        ("Re: 宽带故障", "宽带故障"),
        ("RE：宽带故障", "宽带故障"),
        ("回复：宽带故障", "宽带故障"),
        ("回复: 宽带故障", "宽带故障"),
        ("答复: 宽带故障", "宽带故障"),
        ("转发：宽带故障", "宽带故障"),
        ("Fwd: 宽带故障", "宽带故障"),
        ("FW: 宽带故障", "宽带故障"),
        ("AW: Störung", "Störung"),
        ("WG: Störung", "Störung"),
        ("Sv: fel", "fel"),
        ("Re[2]: 宽带故障", "宽带故障"),
        ("Re: 回复：Re: 宽带故障", "宽带故障"),
        ("RE: Re: 回复：[TS-2026-000124] 已受理", "[TS-2026-000124] 已受理"),
        ("[External] Re: 宽带故障", "[External] Re: 宽带故障"),
        ("Regarding the outage", "Regarding the outage"),
        ("回复率太低", "回复率太低"),
        ("", ""),
    ],
)
def test_strip_reply_prefixes(subject: str, clean: str) -> None:
    assert strip_reply_prefixes(subject) == clean


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("我家宽带从上周开始频繁断线，ADSL 灯一直闪，请尽快处理。", "zh-CN"),
        ("本人於台北市申裝的光纖寬頻每晚斷線", "zh-TW"),
        ("打咗三次電話都冇人嚟整，啲客服仲話係我部機嘅問題", "zh-TW"),
        # A stray traditional character in simplified text (a name) keeps it simplified.
        ("陈著先生：我家宽带从上周开始频繁断线，客服一直不处理，请尽快解决。", "zh-CN"),
        ("My broadband has been down for three days, please fix it.", "en"),
        ("Dear team, my name is 张三 and my broadband has been down for three days.", "en"),
        ("Thanks!\n> 您好，您的投诉已受理，编号 TS-2026-000123。我们将在5个工作日内答复。", "en"),
        ("", "en"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    ("name", "language"),
    [
        ("outlook_zh_plain.eml", "zh-CN"),
        ("big5_taiwan.eml", "zh-TW"),
        ("big5hkscs.eml", "zh-TW"),
        ("english_complaint.eml", "en"),
        ("reply_with_quote_gmail.eml", "en"),
    ],
)
def test_fixture_language(name: str, language: str) -> None:
    assert parsed(name).language == language


def test_addresses_helper() -> None:
    value = '"Li, Hua" <LiHua@Example.org>, undisclosed-recipients:;, wang@qq.com'
    assert addresses(value) == ["lihua@example.org", "wang@qq.com"]


# --- hostile structure ------------------------------------------------------------------------


def nested(depth: int) -> bytes:
    head = b"From: a@example.org\r\nTo: complaints@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    leaf = "Content-Type: text/plain; charset=utf-8\r\n\r\n最里层的正文\r\n".encode()
    closing = b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth)))
    return head + opening + leaf + closing


def test_500_deep_multipart_parses_quickly_without_recursion_error() -> None:
    started = time.perf_counter()
    mail = parse_mail(nested(500))
    assert time.perf_counter() - started < 5
    assert mail.subject == "deep"
    assert mail.body_text == ""  # the text sits deeper than we walk


def test_shallow_nesting_still_reaches_the_text() -> None:
    # RFC 2046 s5.1.1: the CRLF before a boundary line belongs to the boundary, not the text
    assert parse_mail(nested(20)).body_text == "最里层的正文"


def test_absurd_nesting_is_a_parse_error_not_a_crash() -> None:
    with pytest.raises(MailParseError, match="too deep"):
        parse_mail(nested(5000))


def test_ten_thousand_parts_within_fifteen_seconds() -> None:
    lines = [
        b"From: a@example.org",
        b"Subject: wide",
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="w"',
        b"",
    ]
    for i in range(10_000):
        lines += [b"--w", b'Content-Type: application/octet-stream; name="f%d.bin"' % i, b"", b"x"]
    lines += [b"--w--", b""]
    started = time.perf_counter()
    mail = parse_mail(b"\r\n".join(lines))
    assert time.perf_counter() - started < 15
    assert len(mail.attachments) == 10_000
    assert mail.attachments[-1].filename == "f9999.bin"


@pytest.mark.parametrize("junk", [b"", b"   \r\n", "not bytes"])
def test_unusable_input_raises_parse_error(junk: object) -> None:
    with pytest.raises(MailParseError):
        parse_mail(junk)  # type: ignore[arg-type]


def test_mangled_fixtures_never_raise_anything_but_parse_error() -> None:
    rng = random.Random(20260302)
    for name in ALL_FIXTURES:
        data = raw(name)
        for _ in range(6):
            mangled = bytearray(data[: rng.randrange(1, len(data) + 1)])
            for _ in range(8):
                mangled[rng.randrange(len(mangled))] = rng.randrange(256)
            try:
                mail = parse_mail(bytes(mangled))
            except MailParseError:
                continue
            assert "\n" not in mail.subject and "\x00" not in mail.body_text
