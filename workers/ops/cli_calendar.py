"""`complaintdesk due` and `complaintdesk calendar`: the legal clock from the command line.

A public contract (acceptance checks read the output): `due` prints one ISO 8601 timestamp
with its offset; `calendar --json` prints a list of {date, working, reason}.
Wire it with `register(app)`; the arithmetic is `workers.clock.workdays`.
"""

from __future__ import annotations

import json
from calendar import Calendar
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from config.policy_calendar import CalendarPolicy
from workers.clock.workdays import (
    MAKE_UP_DAY,
    OPERATOR_WORKING,
    WEEKEND,
    WORKING_DAY,
    DayInfo,
    WorkCalendar,
)

PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        exists=True,
        dir_okay=False,
        help="Policy file; default: the settings' policy_file (COMPLAINTDESK_POLICY_FILE).",
    ),
]

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEK_HEADER = "".join(f"{name:>5}" for name in _WEEKDAYS)
_LEGEND = "Legend: 8 working day   10+ make-up working day (调休)   11. weekend   1* day off"


def register(app: typer.Typer) -> None:
    """Add the `due` and `calendar` commands to the complaintdesk CLI."""
    app.command("due")(due)
    app.command("calendar")(calendar)


def due(
    start: Annotated[
        str,
        typer.Option(
            "--from",
            help="Start moment, ISO 8601; without an offset it is read in the policy timezone.",
        ),
    ],
    working_days: Annotated[
        int | None, typer.Option("--working-days", min=0, help="Deadline in working days.")
    ] = None,
    hours: Annotated[
        float | None, typer.Option("--hours", min=0, help="Deadline in hours.")
    ] = None,
    policy: PolicyOption = None,
) -> None:
    """Print the deadline N working days or N hours after --from, e.g. 2026-10-15T23:59:59+08:00."""
    if (working_days is None) == (hours is None):
        raise typer.BadParameter("give exactly one of --working-days or --hours")
    work_calendar = WorkCalendar.from_policy(_calendar_policy(policy))
    moment = _parse_moment(start, work_calendar)
    if working_days is not None:
        deadline = work_calendar.add_working_days(moment, working_days)
    else:
        deadline = work_calendar.add_hours(moment, hours or 0.0)
    typer.echo(deadline.isoformat(timespec="seconds"))


def calendar(
    year: Annotated[int, typer.Option("--year", min=1950, max=2100, help="Calendar year.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a list of {date, working, reason}.")
    ] = False,
    policy: PolicyOption = None,
) -> None:
    """Print the working-day calendar of a year: a month grid and the special days."""
    calendar_policy = _calendar_policy(policy)
    days = WorkCalendar.from_policy(calendar_policy).year_calendar(year)
    if as_json:
        typer.echo(_json_lines(days))
    else:
        typer.echo(render_year(year, days, calendar_policy), nl=False)


def render_year(year: int, days: list[DayInfo], policy: CalendarPolicy) -> str:
    """The year as twelve month grids, each followed by its holidays and 调休 days."""
    total = sum(d.is_working for d in days)
    lines = [
        f"{year}: {total} working days ({policy.country}, {policy.timezone})",
        _LEGEND,
    ]
    for month in range(1, 13):
        lines += ["", *_render_month(year, month, [d for d in days if d.day.month == month])]
    return "\n".join(lines) + "\n"


def _render_month(year: int, month: int, days: list[DayInfo]) -> list[str]:
    by_day = {d.day.day: d for d in days}
    working = sum(d.is_working for d in days)
    lines = [f"{_MONTHS[month - 1]} {year} ({working} working days)", _WEEK_HEADER]
    for week in Calendar().monthdayscalendar(year, month):
        cells = [_cell(by_day[n]) if n else "     " for n in week]
        lines.append("".join(cells).rstrip())
    lines += [_note(d) for d in days if d.reason not in (WORKING_DAY, WEEKEND)]
    return lines


def _cell(day: DayInfo) -> str:
    if day.reason in (MAKE_UP_DAY, OPERATOR_WORKING):
        mark = "+"
    elif day.reason == WEEKEND:
        mark = "."
    else:
        mark = " " if day.is_working else "*"
    return f"{day.day.day:>4}{mark}"


def _note(day: DayInfo) -> str:
    state = "working" if day.is_working else "off    "
    weekday = _WEEKDAYS[day.day.weekday()]
    return f"  {day.day.isoformat()} {weekday} {state} {day.reason} / {day.reason_zh}"


def _json_lines(days: list[DayInfo]) -> str:
    """A JSON list with one day per line: valid JSON that an operator can still grep."""
    rows = [
        json.dumps(
            {"date": d.day.isoformat(), "working": d.is_working, "reason": d.reason},
            ensure_ascii=False,
        )
        for d in days
    ]
    return "[\n" + ",\n".join(rows) + "\n]"


def _parse_moment(text: str, work_calendar: WorkCalendar) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 moment: {text!r}", param_hint="--from") from exc
    if moment.tzinfo is None:
        # A naive moment is a local time of the policy's timezone, as an operator means it.
        moment = moment.replace(tzinfo=work_calendar.tz)
    return moment


def _calendar_policy(path: Path | None) -> CalendarPolicy:
    # Imported here: the settings read the environment, which only a real command needs.
    from config.policy import load_policy
    from config.settings import get_settings

    return load_policy(path if path is not None else get_settings().policy_file).calendar
