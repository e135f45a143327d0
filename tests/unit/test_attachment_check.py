"""Compressed attachments: bombs are flagged within a budget, real archives are not."""

from __future__ import annotations

import gzip
import io
import time
import zipfile

from workers.mail.attachment_check import flag_attachment


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
