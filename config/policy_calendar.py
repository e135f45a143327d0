"""Calendar and SLA sections of the policy file (`[calendar]`, `[sla]`).

`CalendarPolicy` says which days are working days and in which timezone deadlines end;
`SlaPolicy` holds the regulations' time limits (docs/process.md, "Timeline" and "Severity").
The arithmetic itself lives in `workers/clock/workdays.py`.
"""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator


class CalendarPolicy(BaseModel):
    # ISO 3166 code understood by the `holidays` package (public holidays and 调休).
    country: str = "CN"
    # IANA name; deadlines end at 23:59:59 local time here.
    timezone: str = "Asia/Shanghai"
    # Business hours, used only when `hours_in_business_time` is true.
    business_day_start: time = time(9, 0)
    business_day_end: time = time(18, 0)
    # False: hour limits (24 h first feedback...) run on the clock, nights and holidays
    # included, as the seeds write them. True: they run only within business hours.
    hours_in_business_time: bool = False
    # Operator overrides, stronger than the national calendar: e.g. an office closure, or
    # an arrangement published after the installed `holidays` release.
    extra_closed_days: list[date] = Field(default_factory=list)
    extra_working_days: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("country")
    @classmethod
    def _supported_country(cls, value: str) -> str:
        import holidays  # imported here: only validation needs it in this module

        if value not in holidays.list_supported_countries():
            raise ValueError(f"country {value!r} is not supported by the holidays package")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CalendarPolicy:
        if self.business_day_start >= self.business_day_end:
            raise ValueError("business_day_start must be before business_day_end")
        both = set(self.extra_closed_days) & set(self.extra_working_days)
        if both:
            days = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"days both closed and working: {days}")
        return self


class SlaPolicy(BaseModel):
    # Initial feedback to the complainant after receipt (hours).
    first_feedback_hours: int = Field(24, ge=1)
    # Investigate and decide (working days).
    decision_working_days: int = Field(7, ge=1)
    # Send the result after the decision (working days).
    result_notice_working_days: int = Field(3, ge=1)
    # The complainant may ask for a review within this many working days of the result.
    review_window_working_days: int = Field(5, ge=1)
    # Acknowledge a review request (working days).
    review_ack_working_days: int = Field(3, ge=1)
    # Answer a review (working days).
    review_result_working_days: int = Field(3, ge=1)
    # Follow-up call-back after closing (hours; seed 004).
    callback_hours: int = Field(24, ge=1)
    # Whether closing a resolved case owes a call-back (回访) at all.
    callbacks: bool = True
    # Ours, not the seeds' (they set no number): how long a request for missing
    # information (补充材料) waits for an answer, the clock paused, before staff are asked
    # to close the case.
    information_wait_working_days: int = Field(10, ge=1)
    # Response target per severity (hours), as the seed states them.
    severity_response_hours: dict[str, int] = Field(
        default_factory=lambda: {"general": 24, "important": 6, "major": 12}
    )
    # Reminders to the owner at these fractions of a deadline's time.
    reminder_fractions: list[float] = Field(default_factory=lambda: [0.5, 0.8])
    # A complaint unresolved after this many calendar days (one month) becomes major.
    escalate_to_major_after_days: int = Field(30, ge=1)
    # Ours, not the seeds' (they name three tiers but no interval): a missed deadline goes to
    # escalation tier 1 at once, then one tier further every this many hours.
    escalation_interval_hours: int = Field(24, ge=1)
    # True: a longer decision time runs only once the complainant agreed (延期须征得同意).
    # False: it runs as soon as the complainant was told the reason.
    extension_needs_consent: bool = True

    @field_validator("severity_response_hours")
    @classmethod
    def _positive_hours(cls, value: dict[str, int]) -> dict[str, int]:
        bad = [name for name, hours in value.items() if hours < 1]
        if bad:
            raise ValueError(f"severity response hours must be at least 1: {', '.join(bad)}")
        return value

    @field_validator("reminder_fractions")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        if any(not 0 < f < 1 for f in value):
            raise ValueError("reminder fractions must lie strictly between 0 and 1")
        return sorted(value)
