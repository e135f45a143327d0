"""What we write that holds mail or personal data is ours alone: files 0600, folders 0700
(issue 11 item 16). Run under the usual umask 022, which gave 0644 and 0755 before."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from models.db import get_engine
from models.private_files import private_sqlite, write_private
from workers.intake.attachments import attachment_path, store_attachment
from workers.outbound.sender import write_to_folder


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_database_wal_and_shm_are_0600_in_a_0700_folder(tmp_path: Path) -> None:
    db = tmp_path / "var" / "deep" / "complaintdesk.db"
    engine = get_engine(f"sqlite:///{db}")
    with engine.begin() as conn:  # WAL mode: the first write creates -wal and -shm
        conn.execute(text("CREATE TABLE t (x TEXT)"))
        conn.execute(text("INSERT INTO t VALUES ('王建国')"))
    try:
        made = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
        assert all(p.exists() for p in made)
        assert {str(p.name): mode(p) for p in made} == {p.name: 0o600 for p in made}
        assert mode(tmp_path / "var") == mode(db.parent) == 0o700
    finally:
        engine.dispose()


def test_a_database_an_older_version_left_readable_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    db.write_bytes(b"")
    Path(f"{db}-wal").write_bytes(b"")
    os.chmod(db, 0o644)
    private_sqlite(db)
    assert mode(db) == mode(Path(f"{db}-wal")) == 0o600


def test_outbox_eml_files_and_folder(tmp_path: Path) -> None:
    folder = tmp_path / "out" / "outbox"
    row = SimpleNamespace(id=7, kind="acknowledgement", to_addr="a@b.org", raw=b"Subject: x\r\n")
    write_to_folder(folder, row)
    eml = folder / "000007-acknowledgement.eml"
    assert eml.read_bytes() == row.raw
    assert (mode(eml), mode(folder), mode(tmp_path / "out")) == (0o600, 0o700, 0o700)
    os.chmod(eml, 0o644)  # written again (a redelivery) over a file left readable
    write_to_folder(folder, row)
    assert mode(eml) == 0o600


def test_attachments_and_their_folders(tmp_path: Path) -> None:
    root = tmp_path / "attachments"
    digest = store_attachment(root, b"%PDF-1.4 id card scan")
    path = attachment_path(root, digest)
    assert (mode(path), mode(path.parent), mode(root)) == (0o600, 0o700, 0o700)


def test_write_private_does_not_follow_a_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"keep")
    (tmp_path / "link.eml").symlink_to(target)
    with pytest.raises(OSError):
        write_private(tmp_path / "link.eml", b"mail")
    assert target.read_bytes() == b"keep"
