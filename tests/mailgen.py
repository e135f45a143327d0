"""Generated complaint mail, shaped like what real clients send (for integration tests and bench).

Each mail is raw RFC 5322 bytes with CRLF line ends, built by hand rather than by the email
package, so that the charsets, header encodings and attachment name styles are the ones
Chinese and English clients really produce: GBK text labelled `gb2312`, Big5 from Taiwan,
UTF-8 from webmail, RFC 2047 and RFC 2231 attachment names. Every mail has a unique Message-ID
and a unique sender, so dedupe and per-sender rate limits never merge or suppress two of them.

    mails = complaints(50, seed=1)          # a reproducible mix
    mail = complaint(7, seed=1)             # one of them
    raw = reply_to(ack_raw, mail, "补充：订单号 123")  # the complainant answers our reply
"""

from __future__ import annotations

import base64
import quopri
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from email.policy import default as default_policy
from email.utils import format_datetime, parseaddr
from urllib.parse import quote

INTAKE = "complaints@example.org"
CST = timezone(timedelta(hours=8))

# (charset label in the mail, Python codec, language, texts to use)
_SIMPLIFIED_SUBJECTS = [
    "宽带每晚断线，客服电话打不通",
    "快递丢件三天无人处理",
    "会员自动续费未经同意扣款",
    "APP泄露个人信息，每天收到推销电话",
    "售后维修拖延一个月仍未修好",
    "网购商品与描述严重不符，要求退款",
    "话费账单多收了流量费",
    "外卖骑手态度恶劣并辱骂顾客",
    "虚假宣传：所谓“限时特价”比平时还贵",
    "退款申请被无故驳回",
    "燃气费用异常，一个月翻了三倍",
    "物业乱收停车费",
]
_SIMPLIFIED_BODIES = [
    "您好：\n我家的宽带从上周起每晚八点以后就断线，报修三次都没有人上门，客服电话一直占线。"
    "请尽快派人处理，并说明原因。\n",
    "你好，我在贵平台下单的商品物流显示已签收，但我从未收到，联系客服只说等待核实，已经三天没有回复。"
    "请查明包裹去向并给我退款。\n",
    "我从未开通自动续费，但本月银行卡被扣了九十九元会员费，要求全额退还并关闭该服务。\n",
    "注册贵公司APP后，我每天都会收到贷款和理财的推销电话，怀疑我的手机号被泄露给了第三方，请调查并答复。\n",
    "手机送修已经一个月，维修点一直说配件没到，也不给备用机，严重影响工作，请给出明确的维修时间。\n",
    "收到的衣服颜色和尺码都与页面描述不符，申请退货后商家拒绝，要求平台介入处理。\n",
]
_TRADITIONAL_SUBJECTS = [
    "網路購物退款遲遲未處理",
    "客服人員態度惡劣",
    "信用卡被重複扣款",
    "維修服務延誤兩週",
    "商品品質與廣告不符",
    "個人資料遭洩漏",
]
_TRADITIONAL_BODIES = [
    "您好：\n我於上個月申請退貨退款，商品已寄回並簽收，但至今仍未收到退款，客服只說請耐心等候。"
    "請儘快處理並回覆。\n",
    "我致電客服詢問帳單問題，客服人員語氣不耐煩並直接掛斷電話，請調查並給予合理說明。\n",
    "本月帳單顯示同一筆訂單被扣款兩次，請儘快退還重複扣除的金額。\n",
    "送修的筆記型電腦已經兩週，維修中心一直無法告知進度，請給予明確的完成日期。\n",
]
_ENGLISH_SUBJECTS = [
    "Billing error on my last invoice",
    "Refund still not received after four weeks",
    "Rude staff at your service counter",
    "Broadband outage every evening",
    "Parcel marked delivered but never arrived",
    "Unauthorised subscription charge",
    "Privacy concern: my data shared with marketers",
    "Repair promised twice and missed twice",
]
_ENGLISH_BODIES = [
    "Hello,\n\nI was charged twice for the same order this month. I have contacted your hotline "
    "twice and nobody has called me back. Please refund the duplicate charge and explain what "
    "happened.\n\nRegards\n",
    "Dear team,\n\nI returned the item on time and you confirmed receipt, but the refund has "
    "still not reached my account after four weeks. Please look into this and tell me when I "
    "will be paid.\n\nThanks\n",
    "Hi,\n\nThe staff member at your service counter shouted at me and refused to give his name "
    "when I asked for it. I expect an apology and an explanation.\n\nBest regards\n",
    "Hello,\n\nMy broadband connection drops every evening between eight and eleven. Three "
    "technician visits were booked and none of them happened. Please fix this.\n",
]
_SIMPLIFIED_NAMES = [
    "张伟",
    "王芳",
    "李娜",
    "刘洋",
    "陈静",
    "杨磊",
    "赵敏",
    "黄晓明",
    "周杰",
    "吴敏",
]
_TRADITIONAL_NAMES = ["陳志明", "林美玲", "黃建國", "張淑芬", "李家豪"]
_ENGLISH_NAMES = ["Emma Brown", "Liam Smith", "Olivia Jones", "Noah Taylor", "Ava Wilson"]
_ATTACHMENTS = ["截图.png", "订单详情.pdf", "聊天记录截屏.jpg", "发票照片.png", "录音证据.mp3"]
_TRAD_ATTACHMENTS = ["截圖.png", "收據.pdf"]
_EN_ATTACHMENTS = ["invoice.pdf", "screenshot.png"]
_CONTENT_TYPES = {
    "png": "image/png",
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "mp3": "audio/mpeg",
}


@dataclass(frozen=True)
class Flavour:
    name: str  # a name for reports: which client this imitates
    label: str  # charset label written in the mail
    codec: str  # Python codec that really produced the bytes
    language: str  # zh-CN | zh-TW | en: the reply language we expect
    transfer: str  # base64 | quoted-printable | 8bit
    subjects: list[str]
    bodies: list[str]
    names: list[str]
    attachments: list[str]
    # Attachment names: RFC 2231 (`filename*=UTF-8''…`, webmail) or RFC 2047 words inside
    # the quoted parameter (Foxmail, Outlook; not allowed by RFC 2047 s5, sent all the same).
    rfc2231_names: bool = True


FLAVOURS = [
    # Foxmail/163: GBK bytes labelled gb2312, base64 body, attachment names as RFC 2047 words.
    Flavour(
        "foxmail-gbk",
        "gb2312",
        "gbk",
        "zh-CN",
        "base64",
        _SIMPLIFIED_SUBJECTS,
        _SIMPLIFIED_BODIES,
        _SIMPLIFIED_NAMES,
        _ATTACHMENTS,
        rfc2231_names=False,
    ),
    # Gmail/QQ webmail: UTF-8, base64 or 8bit, RFC 2231 attachment names.
    Flavour(
        "gmail-utf8",
        "UTF-8",
        "utf-8",
        "zh-CN",
        "base64",
        _SIMPLIFIED_SUBJECTS,
        _SIMPLIFIED_BODIES,
        _SIMPLIFIED_NAMES,
        _ATTACHMENTS,
    ),
    Flavour(
        "webmail-utf8-8bit",
        "utf-8",
        "utf-8",
        "zh-CN",
        "8bit",
        _SIMPLIFIED_SUBJECTS,
        _SIMPLIFIED_BODIES,
        _SIMPLIFIED_NAMES,
        _ATTACHMENTS,
    ),
    # Outlook on a Taiwan Windows: Big5, quoted-printable.
    Flavour(
        "outlook-big5",
        "big5",
        "big5",
        "zh-TW",
        "quoted-printable",
        _TRADITIONAL_SUBJECTS,
        _TRADITIONAL_BODIES,
        _TRADITIONAL_NAMES,
        _TRAD_ATTACHMENTS,
        rfc2231_names=False,
    ),
    # English clients: us-ascii/utf-8, 7bit or quoted-printable.
    Flavour(
        "outlook-en",
        "us-ascii",
        "ascii",
        "en",
        "8bit",
        _ENGLISH_SUBJECTS,
        _ENGLISH_BODIES,
        _ENGLISH_NAMES,
        _EN_ATTACHMENTS,
    ),
    Flavour(
        "apple-en",
        "utf-8",
        "utf-8",
        "en",
        "quoted-printable",
        _ENGLISH_SUBJECTS,
        _ENGLISH_BODIES,
        _ENGLISH_NAMES,
        _EN_ATTACHMENTS,
    ),
]


@dataclass(frozen=True)
class GeneratedMail:
    raw: bytes
    message_id: str  # without <>
    from_addr: str
    from_name: str
    subject: str  # as the complainant wrote it (decoded)
    body: str
    language: str  # the language our reply should be in
    flavour: str
    attachments: list[str] = field(default_factory=list)  # filenames, decoded


def encoded_word(text: str, label: str, codec: str) -> str:
    """RFC 2047 B-encoded words, split so that no word breaks a character (s5, s6.2)."""
    words, chunk = [], ""
    for ch in text:
        if len((chunk + ch).encode(codec)) > 45:
            words.append(chunk)
            chunk = ""
        chunk += ch
    words.append(chunk)
    return "\r\n ".join(
        f"=?{label}?B?{base64.b64encode(w.encode(codec)).decode()}?=" for w in words if w
    )


def header_text(text: str, label: str, codec: str) -> str:
    return text if text.isascii() else encoded_word(text, label, codec)


def _body_part(body: str, flavour: Flavour) -> str:
    data = body.encode(flavour.codec)  # LF line ends here; CRLF on the wire below
    head = f'Content-Type: text/plain; charset="{flavour.label}"\r\n'
    if flavour.transfer == "base64":
        encoded = base64.encodebytes(data.replace(b"\n", b"\r\n")).decode("ascii")
    elif flavour.transfer == "quoted-printable":
        encoded = quopri.encodestring(data).decode("ascii")
    else:
        encoded = body  # 8bit: the text goes as it is, encoded with the whole mail below
    encoded = encoded.replace("\r\n", "\n").replace("\n", "\r\n")
    return (
        head
        + f"Content-Transfer-Encoding: {flavour.transfer}\r\n\r\n"
        + encoded.rstrip("\r\n")
        + "\r\n"
    )


def _attachment_part(filename: str, flavour: Flavour, rng: random.Random) -> str:
    ext = filename.rsplit(".", 1)[-1]
    ctype = _CONTENT_TYPES.get(ext, "application/octet-stream")
    payload = (b"\x89PNG\r\n\x1a\n" if ext == "png" else b"%PDF-1.4\n") + rng.randbytes(600)
    if filename.isascii():
        name_params = f'; name="{filename}"', f'; filename="{filename}"'
    elif flavour.rfc2231_names:
        name = quote(filename.encode("utf-8"), safe="")
        name_params = f"; name*=UTF-8''{name}", f"; filename*=UTF-8''{name}"
    else:
        word = encoded_word(filename, flavour.label, flavour.codec).replace("\r\n ", "")
        name_params = f'; name="{word}"', f'; filename="{word}"'
    data = base64.encodebytes(payload).decode().replace("\n", "\r\n")
    return (
        f"Content-Type: {ctype}{name_params[0]}\r\n"
        f"Content-Disposition: attachment{name_params[1]}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" + data
    )


def complaint(
    index: int,
    seed: int = 0,
    intake: str = INTAKE,
    attachments: int | None = None,
    domain: str = "mailgen.test",
) -> GeneratedMail:
    """Complaint number `index` of the mix for `seed`; the Message-ID is unique on every call."""
    rng = random.Random(f"{seed}:{index}")
    flavour = FLAVOURS[index % len(FLAVOURS)]
    name = rng.choice(flavour.names)
    subject = (
        f"{rng.choice(flavour.subjects)}（{index + 1}）"
        if flavour.language.startswith("zh")
        else f"{rng.choice(flavour.subjects)} (ref {index + 1})"
    )
    body = rng.choice(flavour.bodies)
    n_att = attachments if attachments is not None else (1 if index % 5 == 2 else 0)
    files = rng.sample(flavour.attachments, min(n_att, len(flavour.attachments)))
    local = f"user{index}.{uuid.uuid4().hex[:8]}"
    from_addr = f"{local}@{rng.choice(['163.com', 'qq.com', 'gmail.com', 'outlook.com'])}"
    message_id = f"{uuid.uuid4().hex}.{index}@{domain}"
    date = datetime(2026, 3, 2, 9, 0, tzinfo=CST) + timedelta(minutes=7 * index)
    headers = [
        f"From: {header_text(name, flavour.label, flavour.codec)} <{from_addr}>",
        f"To: {intake}",
        f"Subject: {header_text(subject, flavour.label, flavour.codec)}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: <{message_id}>",
        "MIME-Version: 1.0",
    ]
    if files:
        boundary = f"----=_Part_{uuid.uuid4().hex}"
        parts = [_body_part(body, flavour)] + [_attachment_part(f, flavour, rng) for f in files]
        head = f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        text = head + "".join(f"--{boundary}\r\n{p}\r\n" for p in parts) + f"--{boundary}--\r\n"
    else:
        text = _body_part(body, flavour)
    raw = "\r\n".join(headers).encode("ascii") + b"\r\n" + text.encode(flavour.codec)
    return GeneratedMail(
        raw, message_id, from_addr, name, subject, body, flavour.language, flavour.name, files
    )


def complaints(count: int, seed: int = 0, intake: str = INTAKE) -> list[GeneratedMail]:
    return [complaint(i, seed=seed, intake=intake) for i in range(count)]


def reply_to(ack: bytes, original: GeneratedMail, text: str) -> bytes:
    """What the complainant's client sends when they answer our reply `ack` (UTF-8)."""
    msg = message_from_bytes(ack, policy=default_policy)
    ack_id = str(msg["Message-ID"]).strip()
    refs = " ".join(filter(None, [str(msg.get("References", "")).strip(), ack_id]))
    to = parseaddr(str(msg["Reply-To"]))[1]
    subject = (
        f"回复：{msg['Subject']}" if original.language.startswith("zh") else f"Re: {msg['Subject']}"
    )
    quoted = "\n".join(f"> {line}" for line in msg.get_body(("plain",)).get_content().splitlines())
    body = f"{text}\n\n{quoted}\n".replace("\n", "\r\n")
    headers = [
        f"From: {encoded_word(original.from_name, 'UTF-8', 'utf-8')} <{original.from_addr}>",
        f"To: {to}",
        f"Subject: {encoded_word(subject, 'UTF-8', 'utf-8')}",
        f"Date: {format_datetime(datetime.now(CST))}",
        f"Message-ID: <{uuid.uuid4().hex}.reply@mailgen.test>",
        f"In-Reply-To: {ack_id}",
        f"References: {refs}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=UTF-8",
        "Content-Transfer-Encoding: base64",
    ]
    payload = base64.encodebytes(body.encode("utf-8")).decode().replace("\n", "\r\n")
    return ("\r\n".join(headers) + "\r\n\r\n" + payload).encode("ascii")


def out_of_office(from_addr: str, intake: str = INTAKE, about: str = "您的来信") -> bytes:
    """An out-of-office auto-reply (RFC 3834 Auto-Submitted) as Exchange sends it."""
    subject = encoded_word(f"自动回复：{about}", "UTF-8", "utf-8")
    body = base64.encodebytes("我正在休假，11月20日返回，期间不查看邮件。\r\n".encode()).decode()
    return (
        "\r\n".join(
            [
                f"From: {from_addr}",
                f"To: {intake}",
                f"Subject: {subject}",
                f"Date: {format_datetime(datetime.now(CST))}",
                f"Message-ID: <{uuid.uuid4().hex}.ooo@mailgen.test>",
                "Auto-Submitted: auto-replied",
                "X-Auto-Response-Suppress: All",
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=utf-8",
                "Content-Transfer-Encoding: base64",
            ]
        )
        + "\r\n\r\n"
        + body.replace("\n", "\r\n")
    ).encode("ascii")


def bounce(returned: bytes, intake: str = INTAKE, mta: str = "mx.mailgen.test") -> bytes:
    """A delivery status notification (RFC 3464) for our mail `returned`, headers included."""
    msg = message_from_bytes(returned, policy=default_policy)
    rcpt = parseaddr(str(msg["To"]))[1]
    header_block = returned.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    boundary = f"DSN-{uuid.uuid4().hex}"
    return (
        "\r\n".join(
            [
                "Return-Path: <>",
                f"From: Mail Delivery System <MAILER-DAEMON@{mta}>",
                f"To: {intake}",
                "Subject: Undelivered Mail Returned to Sender",
                f"Date: {format_datetime(datetime.now(CST))}",
                f"Message-ID: <{uuid.uuid4().hex}.dsn@{mta}>",
                "Auto-Submitted: auto-replied",
                "MIME-Version: 1.0",
                f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
                "",
                f"--{boundary}",
                "Content-Type: text/plain; charset=us-ascii",
                "",
                f"This is the mail system at host {mta}.",
                "I'm sorry to have to inform you that your message could not be delivered.",
                "",
                f"<{rcpt}>: host {rcpt.partition('@')[2]} said: 550 5.1.1 mailbox unavailable",
                "",
                f"--{boundary}",
                "Content-Type: message/delivery-status",
                "",
                f"Reporting-MTA: dns; {mta}",
                "",
                f"Final-Recipient: rfc822; {rcpt}",
                "Action: failed",
                "Status: 5.1.1",
                "",
                f"--{boundary}",
                "Content-Type: text/rfc822-headers",
                "",
                header_block,
                "",
                f"--{boundary}--",
                "",
            ]
        )
    ).encode("ascii")
