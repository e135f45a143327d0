"""What the poller may do with one FETCH response: store, hold back, or quarantine, and how far
the mailbox cursor may move. Pure decisions over the response dict, no IMAP and no database.

The rule (issue 11 item 2): a UID is marked on the server, and the cursor passes it, only when
a raw_message row holds it. A server may answer a FETCH without BODY[] for a UID (expunged
meanwhile, a server fault) or with `BODY[] NIL`; such a mail is held back and fetched again on
the next cycle, and after `MAX_UNREADABLE` cycles it is stored as a quarantined row saying why,
so the operator sees it and the mailbox moves on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

# Cycles a mail may come back unreadable before it is quarantined: a passing server fault
# gets a couple of retries; a mail the server can never give us does not stop the mailbox.
MAX_UNREADABLE = 3


@dataclass(frozen=True)
class FetchedBatch:
    readable: dict[int, bytes] = field(default_factory=dict)
    arrived: dict[int, datetime] = field(default_factory=dict)
    unreadable: dict[int, str] = field(default_factory=dict)  # uid -> why


def read_fetch(batch: Collection[int], response: Mapping[int, object]) -> FetchedBatch:
    """Sort the FETCH response of `batch` into mails we can store and UIDs we cannot read.

    Only the UIDs asked for count: a server may add unsolicited FETCH responses for others
    (RFC 3501 s7.4.2), which must neither be stored nor marked from here.
    """
    out = FetchedBatch()
    for uid in sorted(batch):
        data = response.get(uid)
        if not isinstance(data, Mapping):
            out.unreadable[uid] = "the server returned no FETCH response for it"
            continue
        body = data.get(b"BODY[]")
        if b"BODY[]" not in data:
            out.unreadable[uid] = "the server's FETCH response had no BODY[]"
        elif not isinstance(body, bytes) or not body:
            # NIL (None), a non-literal or an empty body: nothing to store as the mail.
            out.unreadable[uid] = f"the server returned BODY[] {_shown(body)}"
        else:
            out.readable[uid] = body
            when = data.get(b"INTERNALDATE")
            if isinstance(when, datetime):
                out.arrived[uid] = when
    return out


def give_up(unreadable: Mapping[int, str], failures: Mapping[int, int]) -> set[int]:
    """The unreadable UIDs to quarantine now: those that failed `MAX_UNREADABLE` cycles
    (`failures` counts this cycle too)."""
    return {uid for uid in unreadable if failures.get(uid, 0) >= MAX_UNREADABLE}


def cursor_target(batch: Collection[int], lowest_held: int | None) -> int | None:
    """How far the cursor may move after `batch`: its highest UID below the lowest UID held
    back in this poll (every UID up to there has a row), or None when it may not move."""
    allowed = [uid for uid in batch if lowest_held is None or uid < lowest_held]
    return max(allowed) if allowed else None


def placeholder(mailbox: str, uidvalidity: int, uid: int, reason: str) -> bytes:
    """The bytes of the quarantined row standing for a mail we could not read: unique per
    (mailbox, UIDVALIDITY, UID), and saying where the mail is, so the operator can find it."""
    return (
        "X-Complaintdesk-Unreadable: the IMAP server gave no body for this mail\r\n"
        f"X-Complaintdesk-Mailbox: {mailbox}\r\n"
        f"X-Complaintdesk-Uid: {uidvalidity}/{uid}\r\n"
        f"X-Complaintdesk-Reason: {reason}\r\n"
        "\r\n"
    ).encode("ascii", "replace")


def unreadable_reason(mailbox: str, uidvalidity: int, uid: int, why: str) -> str:
    return (
        f"unreadable on the IMAP server after {MAX_UNREADABLE} attempts: {why} "
        f"({mailbox}, UIDVALIDITY {uidvalidity}, UID {uid}; the mail is marked like the rest)"
    )


def _shown(value: object) -> str:
    if value is None:
        return "NIL"
    if isinstance(value, bytes | str) and not value:
        return "empty"
    return f"as {type(value).__name__}"
