"""The legal clock's mails: what a reminder, an escalation, a leadership notice and the
automatic endings (no information, review window passed) say, as ReplyRequests.

Staff mails are RFC 3834 auto-generated, in the policy's default language, and carry the
staff member's reply token so that a reply with #commands works the case. They name the case,
never the complainant, and show its subject (the complainant's own words) masked for staff
outside intake (`workers.mail.redact`; docs/process.md#confidentiality). Dates read in the reader's
language. Reminders and escalations show the case at a glance as every staff mail does
(`staff_letters.case_summary`).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from config.policy_staff import StaffMember, members_of
from models import Case, Deadline
from workers.app import App
from workers.clock.rules import SPECS, Kind, Unit, kind_label
from workers.mail.redact import staff_view
from workers.outbound import staff_letters
from workers.outbound.letters import organisation, severity_label, state_label
from workers.outbound.outbox import ReplyRequest
from workers.outbound.render import is_english as _en
from workers.outbound.render import template_language


def owner_text(app: App, case: Case, language: str) -> str:
    """Who owns the case, as staff read it: the assignee, else the group, else intake."""
    staff = {s.id: s for s in app.policy.staff}
    groups = {g.id: g.name for g in app.policy.groups}
    if case.assignee:
        person = staff.get(case.assignee)
        return person.name if person else case.assignee
    if case.assigned_group:
        return groups.get(case.assigned_group, case.assigned_group)
    return "未分派（客服部）" if not _en(language) else "unassigned (intake)"


def left_text(app: App, row: Deadline, now: datetime, language: str) -> str:
    days = app.calendar.remaining_working_days(now, row.due_at)
    if SPECS[Kind(row.kind)].unit == Unit.WORKING_DAYS and days >= 1:
        return f"{days} working day{'s' * (days != 1)}" if _en(language) else f"{days} 个工作日"
    hours = max(1, math.ceil((row.due_at - now).total_seconds() / 3600))
    return f"about {hours} hour{'s' * (hours != 1)}" if _en(language) else f"约 {hours} 小时"


def overdue_text(row: Deadline, now: datetime, language: str) -> str:
    hours = max(0, math.floor((now - row.due_at).total_seconds() / 3600))
    if hours >= 48:
        days = hours // 24
        return f"{days} days" if _en(language) else f"{days} 天"
    if hours < 1:
        return "less than an hour" if _en(language) else "不到 1 小时"
    return f"{hours} hour{'s' * (hours != 1)}" if _en(language) else f"{hours} 小时"


def staff_context(
    app: App, case: Case, row: Deadline, now: datetime, next_due: datetime | None = None
) -> dict[str, Any]:
    """`next_due`: the case's next promised date (`deadlines.next_date`), for the summary."""
    lang = app.policy.default_language
    return {
        "deadline_kind": row.kind,
        "deadline_label": kind_label(row.kind, lang),
        "due_text": app.calendar.format_datetime(row.due_at, lang),
        "stage": state_label(case.status, lang),
        "summary": staff_letters.case_summary(app, case, next_due, lang),
        "organisation": organisation(app, lang),
        "sla": app.policy.sla,
    }


def mail_occasion(row: Deadline, step: str) -> str:
    """The dedupe occasion of a clock mail: `<deadline id>:r1`, `<id>:e2`; after an extension
    the row runs a new period whose reminders and tiers are new mails (`<id>x1:r1`)."""
    period = len(row.detail.get("extensions", []))
    return f"{row.id}x{period}:{step}" if period else f"{row.id}:{step}"


def staff_request(
    app: App, case: Case, kind: str, occasion: str, person: StaffMember, context: dict[str, Any]
) -> ReplyRequest:
    # The subject as this person may read it: supervisors and leadership are outside intake.
    subject = staff_view(app, case, person, app.policy.default_language)(case.subject)
    return staff_letters.staff_request(
        kind,
        occasion,
        person,
        app.policy.default_language,
        {**context, "staff_name": person.name, "case_subject": subject},
    )


def reminder_requests(
    app: App,
    case: Case,
    row: Deadline,
    number: int,
    now: datetime,
    people: list[StaffMember],
    *,
    next_due: datetime | None = None,
) -> list[ReplyRequest]:
    lang = app.policy.default_language
    fraction = sorted(app.policy.sla.reminder_fractions)[number - 1]
    context = {
        **staff_context(app, case, row, now, next_due),
        "percent": round(fraction * 100),
        "left_text": left_text(app, row, now, lang),
        "number": number,
    }
    return [
        staff_request(
            app, case, "staff_reminder", mail_occasion(row, f"r{number}:{p.id}"), p, context
        )
        for p in people
    ]


def escalation_requests(
    app: App,
    case: Case,
    row: Deadline,
    tier: int,
    now: datetime,
    rungs: list[list[StaffMember]],
    next_at: datetime | None,
    *,
    next_due: datetime | None = None,
) -> list[ReplyRequest]:
    lang = app.policy.default_language
    leaders = members_of(app.policy.staff, app.policy.routing.leadership_group)
    rung = rungs[tier - 1]
    previous = "、".join(p.name for r in rungs[: tier - 1] for p in r)
    context = {
        **staff_context(app, case, row, now, next_due),
        "tier": tier,
        "overdue_text": overdue_text(row, now, lang),
        "leadership": tier == len(rungs) and rung == leaders,
        "previous": previous if not _en(lang) else previous.replace("、", ", "),
        "next_tier_text": app.calendar.format_datetime(next_at, lang) if next_at else "",
    }
    return [
        staff_request(
            app, case, "staff_escalation", mail_occasion(row, f"e{tier}:{p.id}"), p, context
        )
        for p in rung
    ]


def one_month_requests(
    app: App, case: Case, row: Deadline, people: list[StaffMember]
) -> list[ReplyRequest]:
    lang = app.policy.default_language
    context = {
        "why": "one_month",
        "days": app.policy.sla.escalate_to_major_after_days,
        "received_text": app.calendar.format_datetime(case.received_at, lang),
        "severity_label": severity_label("major", lang),
        "status_label": state_label(case.status, lang),
        "owner_text": owner_text(app, case, lang),
        "organisation": organisation(app, lang),
    }
    return [
        staff_request(
            app, case, "leadership_notice", mail_occasion(row, f"major:{p.id}"), p, context
        )
        for p in people
    ]


def information_timeout_context(app: App, case: Case, row: Deadline) -> dict[str, Any]:
    cal, lang = app.calendar, template_language(case.language, app.policy.languages)
    return {
        "asked_text": cal.format_date(row.started_at, lang),
        "info_due_text": cal.format_datetime(row.due_at, lang),
    }


def case_closed_context(app: App, case: Case, row: Deadline) -> dict[str, Any]:
    cal, lang = app.calendar, template_language(case.language, app.policy.languages)
    return {
        "result_text": cal.format_date(case.result_sent_at or row.started_at, lang),
        "window_end_text": cal.format_datetime(row.due_at, lang),
    }
