"""Files that hold mail or personal data (the SQLite database and its WAL, outbox .eml files,
attachments): created readable by our user alone, 0600, in folders we create 0700. A mode is
set at creation (os.open, mkdir) rather than after, so no other user can open the file in
between; an existing file of ours is tightened too, as an older version left it 0644."""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """`mkdir -p` whose every newly made folder is 0700; folders that exist keep the mode the
    operator gave them."""
    missing: list[Path] = []
    here = path
    while not here.exists() and here != here.parent:
        missing.append(here)
        here = here.parent
    for folder in reversed(missing):
        with suppress(FileExistsError):  # made meanwhile by another process: theirs
            folder.mkdir(mode=DIR_MODE)
            os.chmod(folder, DIR_MODE)  # mkdir's mode passes through the umask
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write (or overwrite) `path` as a 0600 file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), FILE_MODE)  # an existing file keeps its old mode otherwise
        f.write(data)


def private_sqlite(path: Path) -> None:
    """Create the database file 0600 before SQLite does (SQLite gives its -wal and -shm files
    the database file's mode), and tighten the files an older version left readable."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        with suppress(FileNotFoundError):
            if name.stat().st_mode & 0o077:
                os.chmod(name, FILE_MODE)
