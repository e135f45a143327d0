"""A folder of .eml files as the inbox (the demo): store each file once, like the poller."""

from __future__ import annotations

from pathlib import Path

from models.db import session_scope
from workers.app import App
from workers.intake.raw_store import store_raw


def import_folder(app: App, folder: Path) -> list[int]:
    """Store every .eml in `folder` not stored yet; returns the new raw_message ids in order."""
    new_ids: list[int] = []
    with session_scope(app.db_url) as session:
        for path in sorted(folder.glob("*.eml")):
            row = store_raw(session, path.read_bytes(), f"folder:{folder.name}")
            if row is not None and row.id is not None:
                new_ids.append(row.id)
    return new_ids
