"""The legal clock's calendar against the official CN arrangements for 2025 and 2026.

Sources of the expected days off and make-up working days (调休):
- 2025: 国务院办公厅关于2025年部分节假日安排的通知, 国办发明电〔2024〕12号, 2024-11-12
  (Xinhua; gov.cn gazette content_6989767).
- 2026: 国务院办公厅关于2026年部分节假日安排的通知, 2025-11-04 (Xinhua; gov.cn gazette
  content_7048922).
Every deadline below is counted by hand in its comment, never computed by the code under test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from config.policy_calendar import CalendarPolicy
from workers.clock.workdays import WorkCalendar, format_date, format_datetime

SH = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()


def at(*args: int) -> datetime:
    """A Shanghai local moment."""
    return datetime(*args, tzinfo=SH)


def end_of(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 23, 59, 59, tzinfo=SH)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# (first day off, last day off, make-up working days), as the notices word them.
OFFICIAL: dict[str, tuple[date, date, list[date]]] = {
    "2025 New Year": (date(2025, 1, 1), date(2025, 1, 1), []),
    "2025 Spring Festival": (
        date(2025, 1, 28), date(2025, 2, 4), [date(2025, 1, 26), date(2025, 2, 8)]
    ),
    "2025 Labour Day": (date(2025, 5, 1), date(2025, 5, 5), [date(2025, 4, 27)]),
    "2025 National Day": (
        date(2025, 10, 1), date(2025, 10, 8), [date(2025, 9, 28), date(2025, 10, 11)]
    ),
    "2026 New Year": (date(2026, 1, 1), date(2026, 1, 3), [date(2026, 1, 4)]),
    "2026 Spring Festival": (
        date(2026, 2, 15), date(2026, 2, 23), [date(2026, 2, 14), date(2026, 2, 28)]
    ),
    "2026 Labour Day": (date(2026, 5, 1), date(2026, 5, 5), [date(2026, 5, 9)]),
    "2026 Mid-Autumn": (date(2026, 9, 25), date(2026, 9, 27), []),
    "2026 National Day": (
        date(2026, 10, 1), date(2026, 10, 7), [date(2026, 9, 20), date(2026, 10, 10)]
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", OFFICIAL)
def test_official_arrangement(name: str) -> None:
    first, last, make_up = OFFICIAL[name]
    assert [d for d in days(first, last) if CAL.is_working_day(d)] == []
    # The break ends where the notice says: the weekdays on either side are working days.
    for edge in (first - timedelta(days=1), last + timedelta(days=1)):
        assert edge.weekday() >= 5 or CAL.is_working_day(edge), f"{edge} should be working"
    for d in make_up:
        assert d.weekday() >= 5, f"{d} is announced as a weekend make-up day"
        info = CAL.day_info(d)
        assert (info.is_working, info.reason, info.reason_zh) == (
            True,
            "make-up working day (调休)",
            "调休上班",
        )


def test_working_days_per_year() -> None:
    # 2025 starts on a Wednesday: 104 weekend days, 261 weekdays. Weekdays off: Jan 1;
    # Jan 28-31, Feb 3-4 (6); Apr 4; May 1, 2, 5 (3); Jun 2; Oct 1-3, 6-8 (6) = 18.
    # Make-up days: Jan 26, Feb 8, Apr 27, Sep 28, Oct 11 = 5. 261 - 18 + 5 = 248.
    assert sum(d.is_working for d in CAL.year_calendar(2025)) == 248
    # 2026 starts on a Thursday: 104 weekend days, 261 weekdays. Weekdays off: Jan 1-2 (2);
    # Feb 16-20, 23 (6); Apr 6; May 1, 4, 5 (3); Jun 19; Sep 25; Oct 1, 2, 5, 6, 7 (5) = 19.
    # Make-up days: Jan 4, Feb 14, Feb 28, May 9, Sep 20, Oct 10 = 6. 261 - 19 + 6 = 248.
    assert sum(d.is_working for d in CAL.year_calendar(2026)) == 248


def test_year_calendar_reasons() -> None:
    year = CAL.year_calendar(2026)
    assert len(year) == 365
    assert (year[0].day, year[-1].day) == (date(2026, 1, 1), date(2026, 12, 31))
    by_day = {d.day: d for d in year}
    assert (by_day[date(2026, 10, 1)].reason, by_day[date(2026, 10, 1)].reason_zh) == (
        "National Day",
        "国庆节",
    )
    # Oct 3 is a Saturday inside the holiday: named for the holiday, not "weekend".
    assert by_day[date(2026, 10, 3)].reason == "National Day"
    assert (by_day[date(2026, 10, 4)].is_working, by_day[date(2026, 10, 4)].reason) == (
        False,
        "weekend",
    )
    assert (by_day[date(2026, 10, 9)].is_working, by_day[date(2026, 10, 9)].reason) == (
        True,
        "working day",
    )


# -- add_working_days -----------------------------------------------------------------------


def test_national_day_2026_with_make_up_saturday() -> None:
    # Sep 30 start, not counted; Oct 1-7 holiday; Oct 8 (1) Oct 9 (2) Oct 10 Sat make-up (3)
    # Oct 11 Sun off; Oct 12 (4) Oct 13 (5) Oct 14 (6) Oct 15 (7).
    assert CAL.add_working_days(at(2026, 9, 30, 10, 0), 7) == end_of(2026, 10, 15)


def test_national_day_2025_with_make_up_sunday() -> None:
    # Sep 26 Fri start, not counted; Sep 27 Sat off; Sep 28 Sun make-up (1); Sep 29 (2)
    # Sep 30 (3); Oct 1-8 holiday; Oct 9 (4) Oct 10 (5).
    assert CAL.add_working_days(at(2025, 9, 26, 9, 0), 5) == end_of(2025, 10, 10)


def test_spring_festival_2026_crossing_the_holiday() -> None:
    # Feb 13 Fri start, not counted; Feb 14 Sat make-up (1); Feb 15-23 holiday; Feb 24 (2)
    # Feb 25 (3) Feb 26 (4) Feb 27 (5) Feb 28 Sat make-up (6); Mar 1 Sun off; Mar 2 (7).
    assert CAL.add_working_days(at(2026, 2, 13, 16, 0), 7) == end_of(2026, 3, 2)


def test_spring_festival_2025_crossing_the_holiday() -> None:
    # Jan 24 Fri start, not counted; Jan 25 Sat off; Jan 26 Sun make-up (1); Jan 27 (2);
    # Jan 28-Feb 4 holiday; Feb 5 (3).
    assert CAL.add_working_days(at(2025, 1, 24, 11, 0), 3) == end_of(2025, 2, 5)


def test_start_on_a_holiday() -> None:
    # Oct 3 2026 (National Day) start, not counted; Oct 4-7 off; Oct 8 (1) Oct 9 (2)
    # Oct 10 Sat make-up (3).
    assert CAL.add_working_days(at(2026, 10, 3, 11, 0), 3) == end_of(2026, 10, 10)


def test_start_on_a_make_up_saturday() -> None:
    # Feb 28 2026 Sat (make-up) start, not counted; Mar 1 Sun off; Mar 2 (1) Mar 3 (2) Mar 4 (3).
    assert CAL.add_working_days(at(2026, 2, 28, 10, 0), 3) == end_of(2026, 3, 4)
    # Oct 11 2025 Sat (make-up) start; Oct 12 Sun off; Oct 13 (1) ... Oct 17 (5).
    assert CAL.add_working_days(at(2025, 10, 11, 17, 0), 5) == end_of(2025, 10, 17)


def test_start_at_23_59_counts_from_the_next_day() -> None:
    # Sep 29 23:59:30 start, not counted; Sep 30 (1).
    assert CAL.add_working_days(at(2026, 9, 29, 23, 59, 30), 1) == end_of(2026, 9, 30)


def test_the_day_is_the_local_day_not_the_utc_day() -> None:
    # 16:30 UTC on Sep 29 is 00:30 on Sep 30 in Shanghai: Sep 30 start, not counted;
    # Oct 1-7 holiday; Oct 8 (1). The answer is in Shanghai time.
    due = CAL.add_working_days(datetime(2026, 9, 29, 16, 30, tzinfo=UTC), 1)
    assert due == end_of(2026, 10, 8)
    assert due.isoformat() == "2026-10-08T23:59:59+08:00"


def test_deadline_across_the_year_end() -> None:
    # Dec 30 2025 Tue start, not counted; Dec 31 (1); Jan 1 holiday; Jan 2 Fri off (调休);
    # Jan 3 Sat off; Jan 4 Sun make-up (2); Jan 5 Mon (3).
    assert CAL.add_working_days(at(2025, 12, 30, 9, 0), 3) == end_of(2026, 1, 5)


def test_zero_and_negative_working_days() -> None:
    assert CAL.add_working_days(at(2026, 10, 3, 11, 0), 0) == end_of(2026, 10, 3)
    with pytest.raises(ValueError, match="negative"):
        CAL.add_working_days(at(2026, 10, 3, 11, 0), -1)


@pytest.mark.parametrize("n", [1, 3, 5, 7, 30])
@pytest.mark.parametrize(
    "start", [at(2025, 1, 24, 9), at(2025, 9, 27, 9), at(2026, 2, 14, 9), at(2026, 12, 30, 9)]
)
def test_working_days_between_undoes_add_working_days(start: datetime, n: int) -> None:
    assert CAL.working_days_between(start, CAL.add_working_days(start, n)) == n


# -- counting and pausing -------------------------------------------------------------------


def test_working_days_between() -> None:
    # After Sep 30 up to Oct 12: Oct 8, Oct 9, Oct 10 (Sat make-up), Oct 12 = 4.
    assert CAL.working_days_between(at(2026, 9, 30, 10), at(2026, 10, 12, 9)) == 4
    assert CAL.working_days_between(at(2026, 10, 12, 9), at(2026, 9, 30, 10)) == -4
    assert CAL.working_days_between(at(2026, 10, 12, 9), at(2026, 10, 12, 17)) == 0


def test_pause_and_resume() -> None:
    due = CAL.add_working_days(at(2026, 9, 30, 10), 7)  # Oct 15, see above
    # Paused on Oct 9 (not counted): Oct 10 Sat make-up (1) Oct 12 (2) 13 (3) 14 (4) 15 (5).
    remaining = CAL.remaining_working_days(at(2026, 10, 9, 11), due)
    assert remaining == 5
    # Resumed Fri Oct 16 (not counted); Oct 17-18 weekend; Oct 19 (1) ... Oct 23 (5).
    assert CAL.add_working_days(at(2026, 10, 16, 14), remaining) == end_of(2026, 10, 23)
    # Paused after the deadline: nothing left.
    assert CAL.remaining_working_days(at(2026, 10, 20, 9), due) == 0


# -- add_hours ------------------------------------------------------------------------------


def test_clock_hours_ignore_holidays() -> None:
    # 24 h from Sep 30 10:00 is Oct 1 10:00, a holiday: the seeds' hours are clock hours.
    assert CAL.add_hours(at(2026, 9, 30, 10, 0), 24) == at(2026, 10, 1, 10, 0)


def test_hours_across_midnight() -> None:
    # 20:30 + 6 h = 02:30 the next day.
    assert CAL.add_hours(at(2026, 2, 14, 20, 30), 6) == at(2026, 2, 15, 2, 30)


def test_hours_from_another_timezone_answer_in_shanghai() -> None:
    # 12:00 New York (-05:00) is 17:00 UTC; + 24 h = Mar 8 17:00 UTC = Mar 9 01:00 in Shanghai,
    # which has no daylight saving: the US change on Mar 8 2026 does not matter.
    due = CAL.add_hours(datetime(2026, 3, 7, 12, tzinfo=ZoneInfo("America/New_York")), 24)
    assert due.isoformat() == "2026-03-09T01:00:00+08:00"


def test_hours_are_elapsed_hours_in_a_daylight_saving_timezone() -> None:
    new_york = WorkCalendar(CalendarPolicy(country="US", timezone="America/New_York"))
    # Mar 7 12:00 EST; the clocks jump an hour on Mar 8 at 02:00, so 24 h later reads 13:00 EDT.
    due = new_york.add_hours(datetime(2026, 3, 7, 12, tzinfo=ZoneInfo("America/New_York")), 24)
    assert due.isoformat() == "2026-03-08T13:00:00-04:00"


BUSINESS = WorkCalendar(CalendarPolicy(hours_in_business_time=True))


def test_business_hours_skip_the_holiday() -> None:
    # Sep 30 Wed 15:00-18:00 = 3 h (3 left); Oct 1-7 off; Oct 8 09:00 + 3 h = 12:00.
    assert BUSINESS.add_hours(at(2026, 9, 30, 15, 0), 6) == at(2026, 10, 8, 12, 0)


def test_business_hours_on_a_make_up_saturday() -> None:
    # Oct 10 Sat make-up, 07:00 waits for 09:00: 9 h (15 left); Oct 11 Sun off;
    # Oct 12 9 h (6 left); Oct 13 09:00 + 6 h = 15:00.
    assert BUSINESS.add_hours(at(2026, 10, 10, 7, 0), 24) == at(2026, 10, 13, 15, 0)


def test_business_hours_ending_at_closing_time_stay_on_that_day() -> None:
    # Oct 9 09:00 + 9 h = 18:00 the same day, not 09:00 the next working day.
    assert BUSINESS.add_hours(at(2026, 10, 9, 9, 0), 9) == at(2026, 10, 9, 18, 0)


def test_business_hours_follow_the_policy_window() -> None:
    short_day = WorkCalendar(
        CalendarPolicy(
            hours_in_business_time=True,
            business_day_start=time(8, 30),
            business_day_end=time(12, 0),
        )
    )
    # Oct 9 Fri 11:00-12:00 = 1 h (1 left); Oct 10 Sat make-up 08:30 + 1 h = 09:30.
    assert short_day.add_hours(at(2026, 10, 9, 11, 0), 2) == at(2026, 10, 10, 9, 30)


def test_negative_hours_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        CAL.add_hours(at(2026, 10, 9, 9, 0), -1)


def test_time_at_fraction() -> None:
    # Oct 1 10:00 to Oct 2 10:00, 80 % of 24 h = 19 h 12 min: Oct 2 05:12.
    assert CAL.time_at_fraction(at(2026, 10, 1, 10), at(2026, 10, 2, 10), 0.8) == at(
        2026, 10, 2, 5, 12
    )


# -- operator overrides ---------------------------------------------------------------------


def test_operator_overrides() -> None:
    office = WorkCalendar(
        CalendarPolicy(
            extra_closed_days=[date(2026, 12, 24), date(2026, 10, 10)],
            extra_working_days=[date(2026, 12, 26)],
        )
    )
    start = at(2026, 12, 23, 10, 0)
    # National calendar: Dec 23 Wed start, not counted; Dec 24 (1) Dec 25 (2).
    assert CAL.add_working_days(start, 2) == end_of(2026, 12, 25)
    # Office: Dec 24 closed; Dec 25 (1); Dec 26 Sat opened by the operator (2).
    assert office.add_working_days(start, 2) == end_of(2026, 12, 26)
    # The operator may also close a national make-up day.
    info = office.day_info(date(2026, 10, 10))
    assert (info.is_working, info.reason) == (False, "operator closed")
    assert office.day_info(date(2026, 12, 26)).reason == "operator working day"


def test_a_day_both_closed_and_working_is_refused() -> None:
    with pytest.raises(ValidationError, match="both closed and working"):
        CalendarPolicy(extra_closed_days=[date(2026, 5, 9)], extra_working_days=[date(2026, 5, 9)])


def test_unknown_timezone_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown timezone"):
        CalendarPolicy(timezone="Asia/Beijing")


# -- naive datetimes ------------------------------------------------------------------------


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 9, 30, 10, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.add_working_days(naive, 7)
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.add_hours(naive, 24)
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.working_days_between(naive, at(2026, 10, 9, 9))
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.is_working_day(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        format_datetime(naive, "en")


# -- formatting -----------------------------------------------------------------------------


def test_format_date_in_both_languages() -> None:
    due = end_of(2026, 10, 12)
    assert CAL.format_date(due, "zh-CN") == "2026年10月12日（星期一）"
    assert CAL.format_date(due, "en") == "Monday 12 October 2026"
    assert format_date(date(2025, 2, 5), "zh") == "2025年2月5日（星期三）"
    assert format_date(date(2025, 2, 5), "en-GB") == "Wednesday 5 February 2025"


def test_format_datetime_in_both_languages() -> None:
    due = end_of(2026, 10, 12)
    assert CAL.format_datetime(due, "zh-CN") == "2026年10月12日（星期一）23:59"
    assert CAL.format_datetime(due, "en") == "Monday 12 October 2026, 23:59"


def test_formatting_uses_the_calendars_timezone() -> None:
    # 16:30 UTC on Monday Oct 12 is 00:30 on Tuesday Oct 13 in Shanghai.
    moment = datetime(2026, 10, 12, 16, 30, tzinfo=UTC)
    assert CAL.format_datetime(moment, "zh-CN") == "2026年10月13日（星期二）00:30"
    assert CAL.format_date(moment, "en") == "Tuesday 13 October 2026"


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="no date format"):
        CAL.format_date(end_of(2026, 10, 12), "fr")
