"""models.db helpers that need no database."""

from __future__ import annotations

from sqlalchemy import Table

from models import Deadline, Event, RawMessage
from models.db import table_of


def test_table_of_is_the_models_core_table() -> None:
    for model, name in ((Event, "event"), (Deadline, "deadline"), (RawMessage, "raw_message")):
        table = table_of(model)
        assert isinstance(table, Table)
        assert table.name == name
        assert table is model.__table__  # type: ignore[attr-defined]
