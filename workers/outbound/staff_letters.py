"""Staff mail: the one reply-request builder, and the case summary every staff mail shows.

Every mail the desk sends a staff member (the routing notification, the clock's reminders and
escalations, the leadership notice, a command transcript, a follow-up notice) is built by
`staff_request`: its Reply-To carries the member's signed token, so that replying to it with
#commands is an authenticated command mail, and it is marked `Auto-Submitted: auto-generated`
(RFC 3834 s5): the desk sent it on its own, so no vacation responder answers it. The case at a
glance (templates/*/_staff_case.*.j2) is `staff_summary`, whichever path mails it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from config.policy_staff import StaffMember
from models import Case
from workers.app import App
from workers.clock import deadlines
from workers.mail.redact import staff_view
from workers.outbound.letters import (
    category_label,
    language_of,
    organisation,
    severity_label,
    stage_label,
)
from workers.outbound.outbox import ReplyRequest, queue_reply

# RFC 3834 s5: mail the desk generates on its own, not a person's; any value but "no" keeps
# responders (out-of-office replies) from answering it.
STAFF_AUTO_SUBMITTED = "auto-generated"


def group_name(app: App, group: str | None) -> str | None:
    return next((g.name for g in app.policy.groups if g.id == group), group)


def member_name(app: App, staff_id: str | None) -> str | None:
    return next((f"{m.name} ({m.id})" for m in app.policy.staff if m.id == staff_id), staff_id)


def case_summary(app: App, case: Case, next_due: datetime | None, language: str) -> dict[str, Any]:
    """The case at a glance, as the staff partial templates/*/_staff_case.* shows it, given
    the next date the complainant is promised (`deadlines.next_date`)."""
    language = language_of(app, language)
    return {
        "category": category_label(app, case.category, language),
        "severity": severity_label(case.severity, language),
        "group": group_name(app, case.assigned_group),
        "assignee": member_name(app, case.assignee),
        "next_date_text": app.calendar.format_datetime(next_due, language) if next_due else "",
        "merged_into": case.merged_into,
        "malicious": case.malicious,
    }


def staff_summary(session: Session, app: App, case: Case, language: str) -> dict[str, Any]:
    """`case_summary` with the case's next promised date read from its deadlines."""
    return case_summary(app, case, deadlines.next_date(session, app, case), language)


def staff_request(
    kind: str,
    occasion: str,
    member: StaffMember,
    language: str,
    context: dict[str, Any],
    *,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
) -> ReplyRequest:
    """Mail `kind` to a staff member: their token in the Reply-To makes their reply an
    authenticated command mail."""
    return ReplyRequest(
        kind=kind,
        occasion=occasion,
        to_addr=member.email,
        to_name=member.name,
        language=language,
        context=context,
        in_reply_to=in_reply_to,
        references=list(references or []),
        auto_submitted=STAFF_AUTO_SUBMITTED,
        staff_id=member.id,
        role="staff",
    )


def notify_staff(
    session: Session,
    app: App,
    case: Case,
    member: StaffMember,
    kind: str,
    *,
    occasion: str,
    language: str,
    context: dict[str, Any],
    in_reply_to: str | None = None,
    references: list[str] | None = None,
) -> int | None:
    """Queue mail `kind` to a staff member, its Reply-To their signed address for the case."""
    language = language_of(app, language)
    row = queue_reply(
        session,
        app,
        case,
        staff_request(
            kind,
            f"{occasion}:{member.id}",
            member,
            language,
            # The subject as this member may read it (workers.mail.redact): a caller's own wins.
            {
                "organisation": organisation(app, language),
                "stage": stage_label(app, case, language),
                "staff": member,
                "case_subject": staff_view(app, case, member, language)(case.subject or ""),
                **context,
            },
            in_reply_to=in_reply_to,
            references=references,
        ),
    )
    return row.id if row is not None else None
