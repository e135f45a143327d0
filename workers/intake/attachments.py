"""Store attachments as content-addressed files: attachments_dir/ab/abcdef… (sha256)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from models.private_files import private_dir


def attachment_path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256


def store_attachment(root: Path, payload: bytes) -> str:
    """Write `payload` once (atomic rename, so a crash never leaves half a file); its sha256."""
    digest = hashlib.sha256(payload).hexdigest()
    path = attachment_path(root, digest)
    if path.exists():
        return digest
    private_dir(path.parent)  # 0700 folders
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mkstemp: 0600
    with os.fdopen(fd, "wb") as f:
        f.write(payload)
    os.replace(tmp, path)
    return digest
