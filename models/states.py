"""The state words stored in the rows, one enum per column.

The values are a public contract: they are what the database holds (plain VARCHAR columns,
not SQL enums) and what `case show --json` and `mail list --json` print. Never rename a value.
A StrEnum member is equal to, hashes like and serialises as its value, so a string read back
from the database compares equal to the member.
"""

from __future__ import annotations

from enum import StrEnum


class CaseState(StrEnum):
    """`case.status`; the lifecycle's moves between them are workers.casework.transitions."""

    RECEIVED = "received"
    AWAITING_INFO = "awaiting_info"  # 补充材料: the clock waits for the complainant
    ACCEPTED = "accepted"  # 受理: under investigation
    NOT_ACCEPTED = "not_accepted"  # 不予受理
    RESOLVED = "resolved"  # 办结: result sent, review window running
    REVIEW_REQUESTED = "review_requested"
    UNDER_REVIEW = "under_review"
    REVIEW_RESOLVED = "review_resolved"  # the review result is final
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class RawStatus(StrEnum):
    """`raw_message.status`: received -> processed | quarantined."""

    RECEIVED = "received"  # stored by the poller, ingest has not finished with it
    PROCESSED = "processed"
    QUARANTINED = "quarantined"


class Disposition(StrEnum):
    """`raw_message.disposition`: what became of a fetched mail."""

    PENDING = "pending"
    CASE = "case"  # opened a new case
    FOLLOW_UP = "follow_up"  # filed on an existing case
    SCREENED = "screened"  # recorded, never answered (auto-reply, bounce, list, loop, ...)
    QUARANTINED = "quarantined"


class DeadlineState(StrEnum):
    """`deadline.state`: pending (running) -> met | missed | cancelled, or paused <-> pending."""

    PENDING = "pending"
    PAUSED = "paused"
    MET = "met"
    MISSED = "missed"  # stays open (closed_at NULL, "overdue") until the thing owed is done
    CANCELLED = "cancelled"


class OutboxStatus(StrEnum):
    """`outbound_email.status`: queued -> sent | failed."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
