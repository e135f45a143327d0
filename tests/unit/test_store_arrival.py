"""When a mail reached our mailbox: the server's INTERNALDATE where it is believable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from workers.intake.raw_store import MAX_ARRIVAL_AGE, arrival

NOW = datetime(2026, 10, 12, 8, 0, tzinfo=UTC)
CST = timezone(timedelta(hours=8))


def test_the_servers_time_in_any_offset() -> None:
    came = datetime(2026, 10, 12, 14, 30, tzinfo=CST)  # 06:30 UTC, while the poller was down
    assert arrival(came, NOW) == datetime(2026, 10, 12, 6, 30, tzinfo=UTC)


def test_no_time_a_naive_time_or_one_from_the_future_is_now() -> None:
    assert arrival(None, NOW) == NOW
    assert arrival(datetime(2026, 10, 12, 7, 0), NOW) == NOW
    assert arrival(NOW + timedelta(minutes=5), NOW) == NOW


def test_mail_moved_in_from_an_old_folder_counts_from_now() -> None:
    assert arrival(NOW - MAX_ARRIVAL_AGE + timedelta(seconds=1), NOW) < NOW
    assert arrival(NOW - MAX_ARRIVAL_AGE - timedelta(seconds=1), NOW) == NOW
