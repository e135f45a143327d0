"""SQLModel tables and the database session."""

from models.states import CaseState, DeadlineState, Disposition, OutboxStatus, RawStatus
from models.tables import (
    Attachment,
    Case,
    CaseCounter,
    Deadline,
    Event,
    MailboxCursor,
    Message,
    OutboundEmail,
    RawMessage,
)

__all__ = [
    "Attachment",
    "Case",
    "CaseCounter",
    "CaseState",
    "Deadline",
    "DeadlineState",
    "Disposition",
    "Event",
    "MailboxCursor",
    "Message",
    "OutboundEmail",
    "OutboxStatus",
    "RawMessage",
    "RawStatus",
]
