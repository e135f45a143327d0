"""The row states are a public contract: stored in VARCHAR columns, printed by the CLI's JSON.

A renamed enum value must fail here, and the columns must stay plain strings.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path

import pytest
from sqlalchemy import Enum, String, select
from sqlmodel.sql.sqltypes import AutoString

from models import (
    Case,
    CaseState,
    Deadline,
    DeadlineState,
    Disposition,
    OutboundEmail,
    OutboxStatus,
    RawMessage,
    RawStatus,
)
from models.db import session_scope
from workers.app import App
from workers.casework.transitions import State

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _backticked(text: str) -> set[str]:
    return set(re.findall(r"`([a-z_]+)`", text))


def readme_case_states() -> set[str]:
    """The words of README's "States (...): ..." sentence."""
    found = re.search(r"States \(`status` in `case show --json`[^)]*\): (.*?)\.", README, re.S)
    assert found, "README.md lost its States paragraph"
    return _backticked(found.group(1))


def readme_dispositions() -> set[str]:
    found = re.search(r"`disposition` \(([^)]*)\)", README)
    assert found, "README.md lost the mail list --json dispositions"
    return _backticked(found.group(1))


CONTRACT: list[tuple[type[StrEnum], set[str]]] = [
    (
        CaseState,
        {
            "received",
            "accepted",
            "not_accepted",
            "awaiting_info",
            "resolved",
            "review_requested",
            "under_review",
            "review_resolved",
            "closed",
            "withdrawn",
        },
    ),
    (RawStatus, {"received", "processed", "quarantined"}),
    (Disposition, {"pending", "case", "follow_up", "screened", "quarantined"}),
    (DeadlineState, {"pending", "paused", "met", "missed", "cancelled"}),
    (OutboxStatus, {"queued", "sent", "failed"}),
]


@pytest.mark.parametrize(("enum", "values"), CONTRACT, ids=lambda v: getattr(v, "__name__", ""))
def test_enum_values_are_the_contract(enum: type[StrEnum], values: set[str]) -> None:
    assert {member.value for member in enum} == values


def test_case_states_are_readmes() -> None:
    assert readme_case_states() == {s.value for s in CaseState}


def test_dispositions_are_readmes() -> None:
    assert readme_dispositions() == {d.value for d in Disposition}


def test_state_machine_states_are_the_case_states() -> None:
    assert State is CaseState


def test_members_serialise_as_their_values() -> None:
    row = {
        "status": CaseState.NOT_ACCEPTED,
        "disposition": Disposition.FOLLOW_UP,
        DeadlineState.MISSED: [OutboxStatus.QUEUED],
    }
    assert json.dumps(row) == (
        '{"status": "not_accepted", "disposition": "follow_up", "missed": ["queued"]}'
    )
    assert f"{RawStatus.QUARANTINED}" == "quarantined"


@pytest.mark.parametrize(
    ("table", "column"),
    [
        (Case, "status"),
        (RawMessage, "status"),
        (RawMessage, "disposition"),
        (Deadline, "state"),
        (OutboundEmail, "status"),
    ],
)
def test_state_columns_stay_plain_strings(table: type, column: str) -> None:
    """VARCHAR as the migrations create it (sqlmodel's AutoString), never an SQL enum."""
    col_type = table.__table__.c[column].type
    assert isinstance(col_type, AutoString) and isinstance(col_type.impl, String)
    assert not isinstance(col_type.impl, Enum)


def test_defaults_read_back_as_plain_equal_strings(app: App) -> None:
    with session_scope(app.db_url) as session:
        session.add(
            RawMessage(mailbox="INBOX", identity="states-test", sha256="0" * 64, size=1, raw=b"x")
        )
    with session_scope(app.db_url) as session:
        status, disposition = session.execute(
            select(RawMessage.status, RawMessage.disposition).where(
                RawMessage.identity == "states-test"
            )
        ).one()
    assert type(status) is str and type(disposition) is str
    assert status == RawStatus.RECEIVED and disposition == Disposition.PENDING
    assert json.dumps([status, disposition]) == '["received", "pending"]'
