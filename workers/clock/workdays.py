"""The legal clock's calendar: working days on the national calendar, 调休 included.

One job: pure date arithmetic for deadlines. Which days are working days (the `holidays`
package's public holidays and make-up working days, then the operator's overrides), when N
working days or N hours after a moment ends, how many working days are left, and how a date
reads in a reply. No I/O, no clock: every moment is passed in.

Moments must be timezone-aware; results are aware datetimes in the calendar's timezone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from config.policy_calendar import CalendarPolicy

WORKING_DAY = "working day"
WEEKEND = "weekend"
MAKE_UP_DAY = "make-up working day (调休)"
OPERATOR_CLOSED = "operator closed"
OPERATOR_WORKING = "operator working day"

_REASON_ZH = {
    WORKING_DAY: "工作日",
    WEEKEND: "周末",
    MAKE_UP_DAY: "调休上班",
    OPERATOR_CLOSED: "本单位休息",
    OPERATOR_WORKING: "本单位上班",
}

END_OF_DAY = time(23, 59, 59)

_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAYS_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


@dataclass(frozen=True)
class DayInfo:
    """One calendar day: whether it is a working day and why (`reason` in English)."""

    day: date
    is_working: bool
    reason: str
    reason_zh: str


@dataclass(frozen=True)
class _Year:
    """The national calendar of one year: days off on weekdays or weekends, and 调休 days."""

    days_off: dict[date, tuple[str, str]]  # date -> (English name, Chinese name)
    make_up_days: frozenset[date]
    weekend: frozenset[int]  # weekday numbers, Monday 0


class WorkCalendar:
    """Working-day arithmetic for one CalendarPolicy; holiday tables are cached per year."""

    def __init__(self, policy: CalendarPolicy | None = None) -> None:
        self.policy = policy if policy is not None else CalendarPolicy()
        self.tz = ZoneInfo(self.policy.timezone)
        self._closed = frozenset(self.policy.extra_closed_days)
        self._opened = frozenset(self.policy.extra_working_days)
        self._years: dict[int, _Year] = {}

    @classmethod
    def from_policy(cls, policy: CalendarPolicy) -> WorkCalendar:
        return cls(policy)

    # -- days -------------------------------------------------------------------------------

    def day_info(self, day: date) -> DayInfo:
        """Whether `day` is a working day, and why. Operator overrides win over the nation's."""
        day = self._as_day(day)
        if day in self._closed:
            return _info(day, False, OPERATOR_CLOSED)
        if day in self._opened:
            return _info(day, True, OPERATOR_WORKING)
        year = self._year(day.year)
        if day in year.days_off:
            name_en, name_zh = year.days_off[day]
            return DayInfo(day, False, name_en, name_zh)
        if day in year.make_up_days:
            return _info(day, True, MAKE_UP_DAY)
        if day.weekday() in year.weekend:
            return _info(day, False, WEEKEND)
        return _info(day, True, WORKING_DAY)

    def is_working_day(self, day: date) -> bool:
        return self.day_info(day).is_working

    def year_calendar(self, year: int) -> list[DayInfo]:
        """Every day of `year`, in order."""
        first, last = date(year, 1, 1), date(year, 12, 31)
        return [self.day_info(first + timedelta(days=i)) for i in range((last - first).days + 1)]

    # -- deadlines --------------------------------------------------------------------------

    def add_working_days(self, moment: datetime, n: int) -> datetime:
        """The deadline N working days from `moment`.

        Rule: a deadline of N working days from a moment is the end (23:59:59 local time) of
        the N-th working day after the day of that moment, the starting day not counted.
        With N = 0 it is the end of the moment's own day (a resumed clock with nothing left).
        """
        if n < 0:
            raise ValueError(f"working days must not be negative, got {n}")
        day, counted = self.local(moment).date(), 0
        while counted < n:
            day += timedelta(days=1)
            counted += self.is_working_day(day)
        return self.end_of_day(day)

    def add_hours(self, moment: datetime, hours: float) -> datetime:
        """`hours` clock hours after `moment`; with `hours_in_business_time`, business hours
        (between business_day_start and business_day_end on working days) instead."""
        if hours < 0:
            raise ValueError(f"hours must not be negative, got {hours}")
        if self.policy.hours_in_business_time:
            return self._add_business_hours(self.local(moment), timedelta(hours=hours))
        # Through UTC so that a timezone with daylight saving still gets elapsed hours.
        return (self.local(moment).astimezone(UTC) + timedelta(hours=hours)).astimezone(self.tz)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days after the day of `start` up to and including the day of `end`.

        The inverse of add_working_days: working_days_between(m, add_working_days(m, n)) == n.
        Negative when `end` falls on an earlier day than `start` (e.g. days overdue, reversed).
        """
        first, last = self.local(start).date(), self.local(end).date()
        if last < first:
            return -self.working_days_between(end, start)
        return sum(self.is_working_day(d) for d in _days_after(first, last))

    def remaining_working_days(self, now: datetime, due: datetime) -> int:
        """Working days left before `due`, to store when a deadline is paused (补充材料).

        Resume with add_working_days(resumed_at, remaining): the day of the pause and the day
        of the resumption are not counted, like the starting day. 0 once `due` is today or past.
        """
        return max(0, self.working_days_between(now, due))

    def time_at_fraction(self, start: datetime, due: datetime, fraction: float) -> datetime:
        """The clock moment `fraction` of the way from `start` to `due` (reminders)."""
        start_utc, due_utc = self.local(start).astimezone(UTC), self.local(due).astimezone(UTC)
        return (start_utc + (due_utc - start_utc) * fraction).astimezone(self.tz)

    # -- moments ----------------------------------------------------------------------------

    def local(self, moment: datetime) -> datetime:
        """`moment` in the calendar's timezone; a naive moment is refused."""
        return _require_aware(moment).astimezone(self.tz)

    def end_of_day(self, day: date) -> datetime:
        return datetime.combine(day, END_OF_DAY, tzinfo=self.tz)

    def format_date(self, moment: date | datetime, language: str) -> str:
        return format_date(moment, language, self.tz)

    def format_datetime(self, moment: datetime, language: str) -> str:
        return format_datetime(moment, language, self.tz)

    # -- internals --------------------------------------------------------------------------

    def _as_day(self, day: date) -> date:
        # A datetime is a date too: take its local calendar day, never its UTC one.
        return self.local(day).date() if isinstance(day, datetime) else day

    def _add_business_hours(self, start: datetime, left: timedelta) -> datetime:
        cursor = start
        while True:
            day = cursor.date()
            if self.is_working_day(day):
                opens = datetime.combine(day, self.policy.business_day_start, tzinfo=self.tz)
                closes = datetime.combine(day, self.policy.business_day_end, tzinfo=self.tz)
                cursor = max(cursor, opens)
                if cursor < closes:
                    if left <= closes - cursor:
                        return cursor + left
                    left -= closes - cursor
            cursor = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.tz)

    def _year(self, year: int) -> _Year:
        if year not in self._years:
            self._years[year] = _load_year(self.policy.country, year)
        return self._years[year]


def _load_year(country: str, year: int) -> _Year:
    """Read one year from the `holidays` package, in English and Chinese."""
    # The next year is loaded too: a 调休 Saturday late in December can be declared in the
    # following year's arrangement (e.g. 2001-12-29 for New Year 2002).
    years = (year, year + 1)
    names_en = holidays.country_holidays(country, years=years, language="en_US")
    names_zh = holidays.country_holidays(country, years=years, language="zh_CN")
    days_off = {d: (name, names_zh.get(d, name)) for d, name in names_en.items() if d.year == year}
    weekend = frozenset(names_en.weekend)
    make_up = frozenset(
        d
        for d in _days_after(date(year - 1, 12, 31), date(year, 12, 31))
        if d.weekday() in weekend and names_en.is_working_day(d)
    )
    return _Year(days_off, make_up, weekend)


def _days_after(first: date, last: date) -> Iterator[date]:
    """The days after `first` up to and including `last`."""
    for i in range(1, (last - first).days + 1):
        yield first + timedelta(days=i)


def _info(day: date, working: bool, reason: str) -> DayInfo:
    return DayInfo(day, working, reason, _REASON_ZH[reason])


def _require_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got naive {moment.isoformat()}")
    return moment


def _language(language: str) -> str:
    tag = language.strip().lower().replace("_", "-")
    if tag.startswith("zh"):
        return "zh"
    if tag.startswith("en"):
        return "en"
    raise ValueError(f"no date format for language {language!r}")


def format_date(moment: date | datetime, language: str, tz: ZoneInfo | None = None) -> str:
    """zh-CN "2026年10月12日（星期一）", en "Monday 12 October 2026".

    A datetime must be aware and is shown in `tz` (its own timezone when None); a date as is.
    """
    if isinstance(moment, datetime):
        moment = _require_aware(moment)
        moment = (moment.astimezone(tz) if tz else moment).date()
    if _language(language) == "zh":
        return f"{moment.year}年{moment.month}月{moment.day}日（{_WEEKDAYS_ZH[moment.weekday()]}）"
    weekday, month = _WEEKDAYS_EN[moment.weekday()], _MONTHS_EN[moment.month - 1]
    return f"{weekday} {moment.day} {month} {moment.year}"


def format_datetime(moment: datetime, language: str, tz: ZoneInfo | None = None) -> str:
    """zh-CN "2026年10月12日（星期一）23:59", en "Monday 12 October 2026, 23:59"."""
    local = _require_aware(moment).astimezone(tz) if tz else _require_aware(moment)
    separator = "" if _language(language) == "zh" else ", "
    return f"{format_date(local, language)}{separator}{local:%H:%M}"
