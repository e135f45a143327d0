"""Generated complaint mails for the benchmarks: realistic bytes, reproducible from a seed.

Mostly Chinese (GBK as Foxmail/163/QQ send it, UTF-8 as Gmail/QQ/Apple Mail send it), some
English (Outlook, Gmail), bodies of a few KB (greeting, the complaint in several paragraphs, the
details a complainant gives, demands, signature, client footer), an HTML alternative where the
client writes one, and a small attachment on about one mail in eight. Every mail has its own
Message-ID and its own sender (the policy caps automatic replies per sender per hour).

    from bench.mailgen import generate
    mails = generate(1000, seed=1)   # [GeneratedMail(message_id, sender, kind, raw), ...]
"""

from __future__ import annotations

import base64
import json
import quopri
import random
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "complaints.jsonl"
CST = timezone(timedelta(hours=8))
CRLF = "\r\n"


@dataclass(frozen=True)
class GeneratedMail:
    message_id: str  # without <>
    sender: str
    kind: str  # which client shape, e.g. "foxmail_gbk"
    raw: bytes


def _corpus() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    zh: dict[str, list[str]] = {}
    en: dict[str, list[str]] = {}
    for line in DATA.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        (en if row["text"].isascii() else zh).setdefault(row["category"], []).append(row["text"])
    return zh, en


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华志强海燕晓东红梅玉兰文博浩然子涵欣怡宇轩思远雨桐俊杰婷婷"
PINYIN = [
    "wang",
    "li",
    "zhang",
    "liu",
    "chen",
    "yang",
    "huang",
    "zhao",
    "wu",
    "zhou",
    "xu",
    "sun",
    "ma",
    "zhu",
    "hu",
    "guo",
    "lin",
    "luo",
    "zheng",
    "xie",
    "song",
    "tang",
    "han",
    "feng",
]
ZH_DOMAINS = [
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "foxmail.com",
    "139.com",
    "sohu.com",
    "aliyun.com",
    "yeah.net",
]
EN_FIRST = [
    "James",
    "Mary",
    "John",
    "Linda",
    "David",
    "Susan",
    "Michael",
    "Karen",
    "Peter",
    "Emma",
    "Daniel",
    "Olivia",
    "Thomas",
    "Sophie",
    "Mark",
    "Grace",
]
EN_LAST = [
    "Smith",
    "Brown",
    "Wilson",
    "Taylor",
    "Clarke",
    "Walker",
    "Wright",
    "Green",
    "Hall",
    "Wood",
    "Harris",
    "Lewis",
    "Young",
    "King",
    "Baker",
    "Turner",
]
EN_DOMAINS = ["gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "proton.me"]

ZH_GREETINGS = [
    "您好：",
    "尊敬的客服：",
    "你好，",
    "客服中心的工作人员：",
    "尊敬的领导：",
    "您好，",
]
ZH_OPENERS = [
    "我是贵公司的老用户，今天写信是想反映一个拖了很久都没有解决的问题。",
    "本人{date}通过贵公司的渠道办理了业务，现就以下问题正式投诉，希望得到重视。",
    "之前已经打过好几次客服电话，每次都说会有专人联系，但至今没有任何回复，只好写邮件。",
    "我在网上查到这个邮箱是投诉受理的地址，所以把情况整理如下，麻烦转给相关部门。",
]
ZH_TIMELINE = [
    "{date}上午，我第一次拨打客服热线反映了这个问题，接线员记录后说三个工作日内回复。",
    "{date}下午，我又通过APP在线客服留言，对方只是发了一段固定的话术，没有解决任何问题。",
    "{date}，营业厅的工作人员让我回家等通知，并表示已经提交了工单，工单号没有告诉我。",
    "到了{date}仍然没有人联系我，我再次打电话，被转了四次，每次都要重新说明情况。",
    "{date}晚上我收到一条短信，说问题已经处理完毕，但实际情况没有任何变化。",
    "{date}我把相关截图和凭证都整理好了，发给了在线客服，对方说已经转交给上级部门。",
]
ZH_DEMANDS = [
    "请贵公司在规定时间内给出书面答复，并说明处理结果和依据。",
    "要求退还多收取的全部费用，并对我造成的损失给予合理补偿。",
    "希望相关负责人能直接和我联系，不要再让我一遍一遍地重复说明情况。",
    "如果得不到妥善处理，我将向消费者协会和行业主管部门反映。",
    "请核实后对相关工作人员进行处理，并向我道歉。",
    "请尽快安排专人上门检查，并告诉我具体的时间。",
]
ZH_CLOSINGS = ["此致\n敬礼！", "谢谢！", "盼复。", "期待您的答复，谢谢。", "望尽快处理，谢谢！"]
ZH_FOOTERS = {
    "foxmail_gbk": "",
    "coremail_gbk": "\n\n-- \n来自网易163邮箱",
    "qq_utf8": "",
    "apple_utf8": "\n\n发自我的iPhone",
    "gmail_zh_utf8": "",
}
ZH_DETAIL_LABELS = ["订单号", "联系电话", "账号", "发生时间", "联系地址", "涉及金额", "工单号"]
ZH_PLACES = [
    "北京市朝阳区建国路",
    "上海市浦东新区张江路",
    "广州市天河区体育西路",
    "深圳市南山区科技园",
    "杭州市西湖区文三路",
    "成都市武侯区人民南路",
    "武汉市洪山区珞喻路",
    "南京市鼓楼区中山北路",
]
ZH_SIGNATURE_PADDING = [
    "附：我已保留全部聊天记录、通话记录和付款凭证，如有需要可以随时提供。",
    "另外说明一下，我白天上班不方便接电话，请尽量通过邮件联系我，或者晚上七点以后来电。",
    "补充：同小区的好几户邻居也遇到了同样的问题，大家都很有意见，希望不是个别现象被敷衍过去。",
    "我希望这封邮件能够被认真对待，而不是像之前那样石沉大海。",
]

EN_GREETINGS = ["Dear Sir or Madam,", "Hello,", "To whom it may concern,", "Dear Customer Service,"]
EN_OPENERS = [
    "I am writing to make a formal complaint about a problem that has now gone on for weeks.",
    "I have been a customer for several years and I have never had to write a letter like this.",
    "I called your hotline twice and was promised a call back that never came, so I am writing.",
]
EN_TIMELINE = [
    "On {date} I first reported the problem by phone; the agent logged it and promised a reply "
    "within three working days.",
    "On {date} I used the chat in your app and received only a canned answer.",
    "On {date} I visited your service centre, where I was told a ticket had been opened.",
    "By {date} nobody had contacted me, so I called again and was transferred four times.",
]
EN_DEMANDS = [
    "Please reply in writing, explain what went wrong and what you will do about it.",
    "I expect a full refund of the amount charged in error and compensation for my time.",
    "If this is not resolved I will take the matter to the consumer protection authority.",
]
EN_DISCLAIMER = (
    "This e-mail and any attachments are confidential and intended solely for the addressee. "
    "If you have received it in error please notify the sender and delete it. Any views or "
    "opinions expressed are those of the author and do not necessarily represent those of the "
    "company."
)

# (kind, weight): Chinese ~78 %, English ~22 %.
KINDS = [
    ("foxmail_gbk", 20),
    ("coremail_gbk", 20),
    ("qq_utf8", 18),
    ("gmail_zh_utf8", 12),
    ("apple_utf8", 8),
    ("outlook_en", 12),
    ("gmail_en", 10),
]
ATTACHMENT_RATE = 0.125


def _b64_lines(data: bytes) -> str:
    text = base64.b64encode(data).decode("ascii")
    return CRLF.join(text[i : i + 76] for i in range(0, len(text), 76))


def _qp(data: bytes) -> str:
    return quopri.encodestring(data).decode("ascii").replace("\n", CRLF)


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", CRLF)


def _header_word(value: str, label: str) -> str:
    """RFC 2047 B words, folded; GBK-family labels get GB18030 bytes, as Chinese clients send."""
    if value.isascii():
        return value
    codec = "gb18030" if label.lower() in ("gbk", "gb2312", "gb18030") else label
    words = [
        f"=?{label}?B?{base64.b64encode(value[i : i + 12].encode(codec)).decode()}?="
        for i in range(0, len(value), 12)
    ]
    return (CRLF + " ").join(words)


def _addr(name: str, address: str, charset: str) -> str:
    return f"{_header_word(name, charset)} <{address}>" if name else address


def _png(rng: random.Random, size: int) -> bytes:
    """A valid 1x1 PNG padded with a private chunk to about `size` bytes (screenshots vary)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\xff\xff\xff")
    pad = rng.randbytes(max(0, size - 80))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"prVt", pad)
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def _pdf(rng: random.Random, size: int) -> bytes:
    body = base64.b64encode(rng.randbytes(max(0, size * 3 // 4 - 200))).decode()
    return (
        f"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% {body}\ntrailer << /Root 1 0 R >>\n"
        "%%EOF\n"
    ).encode()


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.zh, self.en = _corpus()
        self.now = datetime.now(CST).replace(microsecond=0)

    def date_zh(self) -> str:
        d = self.now - timedelta(days=self.rng.randint(1, 40))
        return f"{d.year}年{d.month}月{d.day}日"

    def date_en(self) -> str:
        d = self.now - timedelta(days=self.rng.randint(1, 40))
        return d.strftime("%d %B %Y")

    def zh_person(self, i: int, domain: str | None = None) -> tuple[str, str]:
        r = self.rng
        name = r.choice(SURNAMES) + "".join(r.choice(GIVEN) for _ in range(r.randint(1, 2)))
        domain = domain or r.choice(ZH_DOMAINS)
        local = (
            str(r.randint(10_000_000, 3_999_999_999))
            if domain == "qq.com" and r.random() < 0.6
            else f"{r.choice(PINYIN)}{r.choice(PINYIN)}{r.randint(1, 99)}"
        )
        return name, f"{local}.{i}@{domain}"

    def en_person(self, i: int, domain: str | None = None) -> tuple[str, str]:
        r = self.rng
        first, last = r.choice(EN_FIRST), r.choice(EN_LAST)
        domain = domain or r.choice(EN_DOMAINS)
        return f"{first} {last}", f"{first.lower()}.{last.lower()}{i}@{domain}"

    # --- bodies --------------------------------------------------------------------------

    def zh_body(self, kind: str, name: str) -> tuple[str, str]:
        r = self.rng
        category = r.choice(sorted(self.zh))
        texts = self.zh[category]
        # One complaint per mail, as people write them: several labelled texts glued together
        # made five in six cases major (any one text's signal makes the whole mail major).
        main = [r.choice(texts)]
        subject = main[0].split("，")[0].split("。")[0][:28]
        if r.random() < 0.4:
            subject = r.choice(["投诉：", "【投诉】", "关于", "反映问题："]) + subject
        paragraphs = [
            r.choice(ZH_GREETINGS),
            r.choice(ZH_OPENERS).format(date=self.date_zh()),
            "".join(main),
        ]
        paragraphs += [
            t.format(date=self.date_zh())
            for t in r.sample(ZH_TIMELINE, r.randint(2, len(ZH_TIMELINE)))
        ]
        details = []
        for label in r.sample(ZH_DETAIL_LABELS, r.randint(3, 6)):
            value = {
                "订单号": f"{r.randint(10**17, 10**18 - 1)}",
                "联系电话": f"1{r.choice('3578')}{r.randint(0, 9)}{r.randint(10**7, 10**8 - 1)}",
                "账号": f"{r.randint(10**9, 10**10 - 1)}",
                "发生时间": self.date_zh() + f" {r.randint(8, 22)}:{r.randint(0, 59):02d}",
                "联系地址": r.choice(ZH_PLACES) + f"{r.randint(1, 999)}号{r.randint(1, 30)}栋",
                # Mostly tens to thousands of yuan; a few above the policy's major
                # loss (10,000), as in real intake.
                "涉及金额": f"{10 ** r.uniform(1.3, 4.1):.2f}元",
                "工单号": f"GD{r.randint(10**9, 10**10 - 1)}",
            }[label]
            details.append(f"{label}：{value}")
        paragraphs.append("相关信息如下：\n" + "\n".join(details))
        paragraphs += r.sample(ZH_DEMANDS, r.randint(1, 3))
        paragraphs += r.sample(ZH_SIGNATURE_PADDING, r.randint(0, 3))
        paragraphs.append(r.choice(ZH_CLOSINGS))
        paragraphs.append(f"{name}\n{self.date_zh()}")
        return subject, "\n\n".join(paragraphs) + ZH_FOOTERS.get(kind, "") + "\n"

    def en_body(self, name: str) -> tuple[str, str]:
        r = self.rng
        category = r.choice(sorted(self.en))
        texts = self.en[category]
        main = [r.choice(texts)]
        subject = main[0].split(".")[0].split(",")[0][:60]
        if r.random() < 0.5:
            subject = r.choice(["Complaint: ", "Formal complaint - ", "Re my account: "]) + subject
        paragraphs = [r.choice(EN_GREETINGS), r.choice(EN_OPENERS), " ".join(main)]
        paragraphs += [
            t.format(date=self.date_en())
            for t in r.sample(EN_TIMELINE, r.randint(2, len(EN_TIMELINE)))
        ]
        paragraphs.append(
            f"Order number: {r.randint(10**9, 10**10 - 1)}\n"
            f"Phone: +44 7{r.randint(10**8, 10**9 - 1)}\n"
            f"Date of the incident: {self.date_en()}"
        )
        paragraphs += r.sample(EN_DEMANDS, r.randint(1, 3))
        paragraphs.append(f"Kind regards,\n{name}")
        if r.random() < 0.5:
            paragraphs.append("-- \n" + EN_DISCLAIMER)
        return subject, "\n\n".join(paragraphs) + "\n"

    @staticmethod
    def html_of(text: str, font: str) -> str:
        lines = "".join(f"<div>{escape(line) or '<br>'}</div>\n" for line in text.split("\n"))
        return (
            f'<html><head><meta http-equiv="Content-Type" content="text/html">'
            f'</head><body><div style="font-family:{font};font-size:14px">\n'
            f"{lines}</div></body></html>\n"
        )

    # --- messages ------------------------------------------------------------------------

    def headers(
        self,
        i: int,
        kind: str,
        sender: str,
        from_field: str,
        subject: str,
        charset: str,
        domain: str,
        mailer: str | None,
    ) -> tuple[list[str], str]:
        r = self.rng
        mid = f"{kind.split('_')[0]}.{i}.{r.getrandbits(48):012x}@{domain}"
        sent = datetime.now(CST) - timedelta(seconds=r.randint(5, 600))
        hops = []
        for _ in range(r.randint(2, 4)):
            ip = ".".join(str(r.randint(1, 254)) for _ in range(4))
            hops.append(
                f"Received: from mx{r.randint(1, 9)}.{domain} (unknown [{ip}])"
                + CRLF
                + f"\tby mx.example.org (Postfix) with ESMTPS id {r.getrandbits(40):010X}"
                + CRLF
                + f"\tfor <complaints@example.org>; {format_datetime(sent)}"
            )
        hdrs = [
            *hops,
            f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s110527;"
            + CRLF
            + f"\th=From:To:Subject:Date:Message-ID; bh={_b64_lines(r.randbytes(32))};"
            + CRLF
            + f"\tb={_b64_lines(r.randbytes(128)).replace(CRLF, CRLF + chr(9))}",
            f"From: {from_field}",
            "To: complaints@example.org",
            f"Subject: {_header_word(subject, charset)}",
            f"Date: {format_datetime(sent)}",
            f"Message-ID: <{mid}>",
        ]
        if mailer:
            hdrs.append(f"X-Mailer: {mailer}")
        hdrs.append("MIME-Version: 1.0")
        return hdrs, mid

    def attachment(self, charset: str, zh: bool) -> str:
        r = self.rng
        if r.random() < 0.7:
            data = _png(r, r.randint(6_000, 40_000))
            fname, ctype = ("截图.png" if zh else "screenshot.png"), "image/png"
        else:
            data = _pdf(r, r.randint(8_000, 30_000))
            fname, ctype = ("缴费凭证.pdf" if zh else "invoice.pdf"), "application/pdf"
        encoded = _header_word(fname, charset)
        return (
            f'Content-Type: {ctype}; name="{encoded}"'
            + CRLF
            + f'Content-Disposition: attachment; filename="{encoded}"'
            + CRLF
            + "Content-Transfer-Encoding: base64"
            + CRLF
            + CRLF
            + _b64_lines(data)
            + CRLF
        )

    def one(self, i: int) -> GeneratedMail:
        r = self.rng
        kind = r.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
        zh = not kind.endswith("_en")
        if kind in ("foxmail_gbk", "coremail_gbk"):
            charset, label = "gbk", ("gb2312" if kind == "foxmail_gbk" else "GBK")
        else:
            charset, label = "utf-8", "UTF-8"
        domain = {
            "foxmail_gbk": r.choice(["qq.com", "foxmail.com"]),
            "coremail_gbk": "163.com",
            "qq_utf8": "qq.com",
            "gmail_zh_utf8": "gmail.com",
            "gmail_en": "gmail.com",
            "apple_utf8": "icloud.com",
            "outlook_en": "outlook.com",
        }[kind]
        name, sender = self.zh_person(i, domain) if zh else self.en_person(i, domain)
        subject, text = self.zh_body(kind, name) if zh else self.en_body(name)
        mailer = {
            "foxmail_gbk": "Foxmail 7.2.25.228[cn]",
            "coremail_gbk": "Coremail Webmail Server Version XT5.0.14",
            "outlook_en": "Microsoft Outlook 16.0",
        }.get(kind)
        hdrs, mid = self.headers(
            i,
            kind,
            sender,
            _addr(name, sender, label if zh else "utf-8"),
            subject,
            label,
            domain,
            mailer,
        )
        body_bytes = _crlf(text).encode("gb18030" if charset == "gbk" else "utf-8")
        qp = kind in ("gmail_zh_utf8", "apple_utf8", "gmail_en", "outlook_en")
        cte = "quoted-printable" if qp else "base64"
        encode = _qp if qp else _b64_lines
        plain = (
            f'Content-Type: text/plain; charset="{label}"'
            + CRLF
            + f"Content-Transfer-Encoding: {cte}"
            + CRLF
            + CRLF
            + encode(body_bytes)
            + CRLF
        )
        part = plain
        if kind not in ("foxmail_gbk", "apple_utf8"):  # these send text only
            font = "微软雅黑" if zh else "Calibri"
            html = _crlf(self.html_of(text, font)).encode(
                "gb18030" if charset == "gbk" else "utf-8"
            )
            alt = f"----=_Alt_{r.getrandbits(64):016x}"
            part = (
                f'Content-Type: multipart/alternative; boundary="{alt}"'
                + CRLF
                + CRLF
                + f"--{alt}"
                + CRLF
                + plain
                + f"--{alt}"
                + CRLF
                + f'Content-Type: text/html; charset="{label}"'
                + CRLF
                + f"Content-Transfer-Encoding: {cte}"
                + CRLF
                + CRLF
                + encode(html)
                + CRLF
                + f"--{alt}--"
                + CRLF
            )
        if r.random() < ATTACHMENT_RATE:
            mixed = f"----=_Part_{r.getrandbits(64):016x}"
            part = (
                f'Content-Type: multipart/mixed; boundary="{mixed}"'
                + CRLF
                + CRLF
                + "This is a multi-part message in MIME format."
                + CRLF
                + CRLF
                + f"--{mixed}"
                + CRLF
                + part
                + f"--{mixed}"
                + CRLF
                + self.attachment(label, zh)
                + f"--{mixed}--"
                + CRLF
            )
        raw = CRLF.join(hdrs) + CRLF + part
        return GeneratedMail(mid, sender, kind, raw.encode("ascii"))


def generate(n: int, seed: int = 20261116) -> list[GeneratedMail]:
    gen = _Gen(seed)
    return [gen.one(i) for i in range(n)]


if __name__ == "__main__":  # a quick look: python -m bench.mailgen 5 > sample.mbox-ish
    import sys

    for mail in generate(int(sys.argv[1]) if len(sys.argv) > 1 else 3):
        sys.stdout.write(mail.raw.decode("ascii") + "\n" + "=" * 72 + "\n")
