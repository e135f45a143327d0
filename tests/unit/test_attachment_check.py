"""Compressed attachments: bombs are flagged within a budget, real archives are not."""

from __future__ import annotations

import gzip
import io
import time
import zipfile

from workers.app import App
from workers.mail.attachment_check import (
    EARLY_BYTES,
    INFLATE_BUDGET,
    InflateBudget,
    flag_attachment,
)


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_ordinary_archives_pass() -> None:
    text = "投诉材料：订单截图与通话记录。\n".encode() * 200
    assert flag_attachment("证据.zip", "application/zip", _zip({"a.txt": text})) is None
    assert flag_attachment("log.gz", "application/gzip", gzip.compress(text)) is None


def test_zip_bomb_is_flagged_without_inflating() -> None:
    bomb = _zip({"zeros.bin": b"\0" * (300 * 1024 * 1024)})
    assert len(bomb) < 1_000_000
    started = time.monotonic()
    assert "zip bomb" in flag_attachment("invoice.zip", "application/octet-stream", bomb)
    assert time.monotonic() - started < 1.0


def test_gzip_bomb_stops_at_the_budget() -> None:
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024))
    started = time.monotonic()
    assert "gzip bomb" in flag_attachment("x.gz", "application/gzip", bomb)
    assert time.monotonic() - started < 5.0


def test_garbage_named_zip_is_flagged_unreadable() -> None:
    assert "unreadable" in flag_attachment("x.zip", "application/zip", b"not a zip at all")


def test_a_gzip_bomb_stops_early_past_the_ratio() -> None:
    budget = InflateBudget(INFLATE_BUDGET)
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    assert "gzip bomb" in flag_attachment("x.gz", "application/gzip", bomb, budget)
    assert budget.spent <= EARLY_BYTES + 2 * (1 << 20)  # a step past the first MiB, no more


def test_many_gzip_bomb_parts_share_one_budget_per_mail() -> None:
    """500 parts of 10 MB of zeros (issue 11 item 14): once inflated to 5 GB, now to the
    mail's budget at most, and every part is flagged."""
    part = gzip.compress(b"\0" * (10 * 1024 * 1024))
    budget = InflateBudget(64 * 1024 * 1024)
    flags = [flag_attachment(f"{i}.gz", "application/gzip", part, budget) for i in range(500)]
    assert budget.spent <= 64 * 1024 * 1024 + (1 << 20)
    assert all(flags)
    assert any("not inspected" in f for f in flags if f)


def test_ordinary_gzip_parts_pass_within_the_budget() -> None:
    rows = (
        f"2026-03-{i % 28 + 1:02d} 订单{i * 7919 % 10**9} 已发货 {i % 999}元\n"
        for i in range(60_000)
    )
    text = "".join(rows).encode()  # a 2.6 MB order log, about 8:1
    budget = InflateBudget(INFLATE_BUDGET)
    assert flag_attachment("log.gz", "application/gzip", gzip.compress(text), budget) is None
    assert budget.spent == len(text)


def test_filing_gives_each_mail_one_inflation_budget(app: App) -> None:
    """Through filing: the parts of one mail share limits.max_inflate_bytes_per_mail."""
    from email.message import EmailMessage

    from sqlmodel import select

    from models import Attachment
    from models.db import session_scope
    from workers.intake.ingest import process
    from workers.intake.raw_store import store_raw

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.net", "complaints@example.org", "bombs"
    msg["Message-ID"] = "<bombs@example.net>"
    msg.set_content("请看附件")
    part = gzip.compress(b"\0" * (4 * 1024 * 1024))
    for i in range(40):
        msg.add_attachment(part, maintype="application", subtype="gzip", filename=f"{i}.gz")
    app.policy.limits.max_inflate_bytes_per_mail = 8 * 1024 * 1024
    with session_scope(app.db_url) as session:
        raw = store_raw(session, msg.as_bytes(), "test")
        assert raw is not None
        process(session, app, raw)
    with session_scope(app.db_url) as session:
        flags = [a.flagged for a in session.execute(select(Attachment)).scalars()]
    assert len(flags) == 40 and all(flags)
    assert sum("not inspected" in f for f in flags if f) >= 30
