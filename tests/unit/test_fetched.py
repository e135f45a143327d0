"""The poller's decisions over a FETCH response (issue 11 item 2): a UID is marked, and the
cursor passes it, only when a row holds it."""

from __future__ import annotations

from datetime import UTC, datetime

from workers.intake.fetched import (
    MAX_UNREADABLE,
    cursor_target,
    give_up,
    placeholder,
    read_fetch,
)

WHEN = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


def ok(body: bytes = b"Subject: x\r\n\r\nhi\r\n") -> dict[bytes, object]:
    return {b"BODY[]": body, b"INTERNALDATE": WHEN, b"SEQ": 1}


def test_a_whole_batch_is_readable_and_the_cursor_moves_to_its_end() -> None:
    got = read_fetch([5, 6, 7], {5: ok(), 6: ok(), 7: ok()})
    assert sorted(got.readable) == [5, 6, 7] and got.unreadable == {}
    assert got.arrived == {5: WHEN, 6: WHEN, 7: WHEN}
    assert cursor_target([5, 6, 7], None) == 7


def test_a_uid_without_body_is_never_stored_marked_or_passed() -> None:
    response = {5: ok(), 6: {b"INTERNALDATE": WHEN}, 8: ok()}  # 6: no BODY[]; 7: nothing
    got = read_fetch([5, 6, 7, 8], response)
    assert sorted(got.readable) == [5, 8]  # what gets stored and marked: nothing else
    assert sorted(got.unreadable) == [6, 7]
    assert "no BODY[]" in got.unreadable[6] and "no FETCH response" in got.unreadable[7]
    assert cursor_target([5, 6, 7, 8], min(got.unreadable)) == 5
    # A later batch of the same poll may not carry the cursor past the held uid either.
    assert cursor_target([9, 10], 6) is None


def test_body_nil_or_empty_or_odd_is_unreadable_not_a_crash() -> None:
    got = read_fetch(
        [1, 2, 3, 4],
        {1: {b"BODY[]": None}, 2: {b"BODY[]": b""}, 3: {b"BODY[]": 42}, 4: "garbage"},
    )
    assert got.readable == {}
    assert "NIL" in got.unreadable[1] and "empty" in got.unreadable[2]
    assert "int" in got.unreadable[3] and sorted(got.unreadable) == [1, 2, 3, 4]


def test_unsolicited_responses_for_other_uids_are_ignored() -> None:
    got = read_fetch([5], {5: ok(), 99: ok(b"Subject: not asked for\r\n\r\n")})
    assert list(got.readable) == [5]


def test_a_mail_unreadable_for_max_cycles_is_quarantined() -> None:
    unreadable = {6: "no BODY[]", 7: "NIL"}
    assert give_up(unreadable, {6: MAX_UNREADABLE - 1, 7: 1}) == set()
    assert give_up(unreadable, {6: MAX_UNREADABLE, 7: 2}) == {6}


def test_placeholders_are_unique_per_uid() -> None:
    a = placeholder("imap://u@h:993/INBOX", 7, 6, "NIL")
    b = placeholder("imap://u@h:993/INBOX", 7, 8, "NIL")
    assert a != b and b"UID" in a.upper() and a.endswith(b"\r\n\r\n")
