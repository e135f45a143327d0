"""SQLModel tables and the database session."""

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
    "Deadline",
    "Event",
    "MailboxCursor",
    "Message",
    "OutboundEmail",
    "RawMessage",
]
