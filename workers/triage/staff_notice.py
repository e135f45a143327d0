"""Tell staff about a routed case: the owner's notification, and the leadership notice.

Queues outbox rows only; the route stage commits them and enqueues the sender. The owner's mail
(`staff_notification`) says why the case has its category, severity and owner, quotes the
complaint, and lists the one-line commands that correct it; its Reply-To carries the staff
member's signed token, so that a reply with `#分类 ...` is an authenticated command mail. Groups
other than intake see a per-case pseudonym instead of the complainant, and the complaint's
subject and text with their name and contact data masked (`workers.mail.redact`; docs/process.md,
confidentiality). Each mail is keyed per (case, kind, staff member): a rerun never mails twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlmodel import Session, col

from config.policy_staff import StaffMember, members_of
from models import Attachment, Case, Event, Message, OutboundEmail
from models.types import utcnow
from workers.app import App
from workers.casework.command_parse import help_text, vocabulary_of
from workers.mail.redact import StaffView, staff_view
from workers.outbound.letters import organisation, severity_label, stage_label
from workers.outbound.outbox import queue_reply
from workers.outbound.render import template_language
from workers.outbound.staff_letters import group_name, member_name, staff_request, staff_summary
from workers.triage.route import RoutingDecision
from workers.triage.training_data import complaint_message, complaint_messages

MAX_EXCERPT = 3000  # characters of the complaint quoted in the notification


@dataclass(frozen=True)
class Addressees:
    members: list[StaffMember]
    why: str  # assignee | group | intake: what the mail asks of them


def addressees(app: App, decision: RoutingDecision) -> Addressees:
    """The assignee; else the group's on-duty members; else intake's (nobody else has it)."""
    staff, intake = app.policy.staff, app.policy.routing.intake_group
    assignee = next((m for m in staff if m.id == decision.assignee), None)
    if assignee is not None:
        return Addressees([assignee], "assignee")
    on_duty = [m for m in members_of(staff, decision.group) if m.on_duty]
    if on_duty and decision.group != intake:
        return Addressees(on_duty, "group")
    return Addressees([m for m in members_of(staff, intake) if m.on_duty], "intake")


def staff_language(app: App) -> str:
    # Staff read the organisation's language, whatever language the complainant wrote in.
    return template_language(app.policy.default_language, app.policy.languages)


def evidence(classification: dict[str, Any]) -> list[dict[str, Any]]:
    """The rule hits: which rule found which words, for which category or severity signal."""
    return [
        {
            "rule": hit["rule"],
            "target": hit["target"],
            "level": hit.get("level"),
            "words": ", ".join(hit["evidence"]),
        }
        for hit in classification.get("hits", [])
    ]


@dataclass(frozen=True)
class Complaint:
    """The complainant's first mail on a case and its attachments, as `complaint_context`
    reads them (a batch loads those of all its cases at once: `complaints`)."""

    message: Message | None
    attachments: list[Attachment]


def complaint(session: Session, case: Case) -> Complaint:
    assert case.id is not None
    message = complaint_message(session, case.id)
    attachments = (
        []
        if message is None
        else list(
            session.execute(
                select(Attachment)
                .where(col(Attachment.message_id) == message.id)
                .order_by(col(Attachment.id))
            ).scalars()
        )
    )
    return Complaint(message, attachments)


def complaints(session: Session, case_ids: list[int]) -> dict[int, Complaint]:
    """`complaint` of each of the cases, in two queries."""
    messages = complaint_messages(session, case_ids)
    by_message: dict[int, list[Attachment]] = {}
    if messages:
        for att in session.execute(
            select(Attachment)
            .where(col(Attachment.message_id).in_([m.id for m in messages.values()]))
            .order_by(col(Attachment.id))
        ).scalars():
            by_message.setdefault(att.message_id, []).append(att)
    return {
        case_id: Complaint(
            messages.get(case_id),
            by_message.get(messages[case_id].id or 0, []) if case_id in messages else [],
        )
        for case_id in case_ids
    }


def complaint_context(
    session: Session, app: App, case: Case, view: StaffView, loaded: Complaint | None = None
) -> dict[str, Any]:
    """The complainant and the complaint as this member may see them: outside intake, the
    subject, the text and the attachment names with the complainant's identity masked."""
    found = loaded if loaded is not None else complaint(session, case)
    message, attachments = found.message, found.attachments
    text = (message.body_text if message else "").strip()
    body = view.excerpt(text, MAX_EXCERPT + 1)  # redacts the start only, not a whole long mail
    body = body[:MAX_EXCERPT] + " …" if len(body) > MAX_EXCERPT else body.strip()
    return {
        "complainant": view.complainant,
        "case_subject": view(case.subject),
        "excerpt": body,
        "attachments": [
            {"filename": view(a.filename), "size": a.size, "flagged": a.flagged}
            for a in attachments
        ],
    }


def notification_context(
    session: Session,
    app: App,
    case: Case,
    member: StaffMember,
    decision: RoutingDecision,
    why: str,
    language: str,
    loaded: Complaint | None = None,
) -> dict[str, Any]:
    classification = case.classification or {}
    return {
        "staff_name": member.name,
        "staff_id": member.id,
        "why": why,
        "group_name": group_name(app, decision.group),
        "organisation": organisation(app, language),
        "received_text": app.calendar.format_datetime(case.received_at, language),
        "stage": stage_label(app, case, language),
        "summary": staff_summary(session, app, case, language),
        "reasons": classification.get("reasons", []),
        "routing_reasons": decision.reasons,
        "evidence": evidence(classification),
        "needs_review": bool(classification.get("needs_review")),
        "confidence": classification.get("confidence"),
        "category_codes": [c.code for c in app.policy.categories],
        "help_text": help_text(
            language if language == "zh-CN" else "en", vocabulary_of(app.policy)
        ),
        **complaint_context(session, app, case, staff_view(app, case, member, language), loaded),
    }


def queue_owner_notifications(
    session: Session,
    app: App,
    case: Case,
    decision: RoutingDecision,
    loaded: Complaint | None = None,
) -> list[OutboundEmail]:
    """`staff_notification` to whoever now has to act on the case (`loaded`: its complaint,
    when the caller has read it already)."""
    language, to = staff_language(app), addressees(app, decision)
    if not to.members:  # nobody on duty anywhere: say so where `case show` lists the history
        session.add(
            Event(
                case_id=case.id,
                kind="notification_skipped",
                detail={
                    "kind": "staff_notification",
                    "group": decision.group,
                    "reason": "nobody on duty in the group or in intake",
                },
            )
        )
    rows = []
    if to.members and loaded is None:  # read once for all the addressees
        loaded = complaint(session, case)
    for member in to.members:
        context = notification_context(
            session, app, case, member, decision, to.why, language, loaded
        )
        row = queue_reply(
            session,
            app,
            case,
            staff_request("staff_notification", f"assign:{member.id}", member, language, context),
        )
        if row is not None:
            rows.append(row)
    return rows


_NOTICE, _DIGEST = "leadership_notice", "leadership_digest"
MAX_DIGEST_CASES = 50  # cases a digest lists
# Leadership mail to one member since a moment: all of it, and the digests.
_LEADERSHIP_SINCE = select(
    func.count(), func.count().filter(col(OutboundEmail.kind) == _DIGEST)
).where(
    col(OutboundEmail.to_addr) == bindparam("to"),
    col(OutboundEmail.kind).in_([_NOTICE, _DIGEST]),
    col(OutboundEmail.created_at) >= bindparam("since"),
)


def leadership_pace(sent: int, digests: int, limit: int) -> str:
    """notice (under the member's hourly rate), digest (over it, and no digest this hour
    yet) or hold (a digest went out this hour: the case waits in the list)."""
    if sent < limit:
        return "notice"
    return "hold" if digests else "digest"


def queue_leadership_notice(
    session: Session, app: App, case: Case, reasons: list[str]
) -> list[OutboundEmail]:
    """`leadership_notice` (why: major) to every member of the leadership group, once a case.

    A flood of "major" complaints (forged or not) must not page leadership once each: past
    `[limits] max_leadership_notices_per_hour` to a member, one `leadership_digest` an hour
    lists the major cases of the past hour instead, and later ones are held (an event)."""
    language, rows = staff_language(app), []
    leaders = members_of(app.policy.staff, app.policy.routing.leadership_group)
    owner = member_name(app, case.assignee) or group_name(app, case.assigned_group) or "—"
    since = utcnow() - timedelta(hours=1)
    for member in leaders:
        existing = _leadership_mail_of(session, case, member)
        if existing is not None:  # a rerun of this stage
            rows.append(existing)
            continue
        sent, digests = session.execute(
            _LEADERSHIP_SINCE, {"to": member.email.lower(), "since": since}
        ).one()
        pace = leadership_pace(
            int(sent), int(digests), app.policy.limits.max_leadership_notices_per_hour
        )
        view = staff_view(app, case, member, language)
        if pace == "hold":
            session.add(
                Event(
                    case_id=case.id,
                    kind="leadership_notice_held",
                    detail={"to": member.id, "reason": "leadership digest sent this hour"},
                )
            )
            continue
        if pace == "digest":
            request = staff_request(
                _DIGEST,
                f"leadership:digest:{member.id}",
                member,
                language,
                _digest_context(session, app, member, language, since),
            )
        else:
            # Leadership is a group outside intake: it reads the subject as the policy allows.
            context = {
                "staff_name": member.name,
                "why": "major",
                "detail": "; ".join(reasons),
                "case_subject": view(case.subject),
                "severity_label": severity_label(case.severity, language),
                "received_text": app.calendar.format_datetime(case.received_at, language),
                "status_label": stage_label(app, case, language),
                "owner_text": owner,
                "organisation": organisation(app, language),
            }
            request = staff_request(
                _NOTICE, f"leadership:major:{member.id}", member, language, context
            )
        row = queue_reply(session, app, case, request)
        if row is not None:
            rows.append(row)
    return rows


def _leadership_mail_of(session: Session, case: Case, member: StaffMember) -> OutboundEmail | None:
    return session.execute(
        select(OutboundEmail)
        .where(
            col(OutboundEmail.case_id) == case.id,
            col(OutboundEmail.to_addr) == member.email.lower(),
            col(OutboundEmail.kind).in_([_NOTICE, _DIGEST]),
        )
        .limit(1)
    ).scalar_one_or_none()


def _digest_context(
    session: Session, app: App, member: StaffMember, language: str, since: datetime
) -> dict[str, Any]:
    """The major cases received since `since`, newest first, as this member may read them."""
    majors = list(
        session.execute(
            select(Case)
            .where(col(Case.severity) == "major", col(Case.received_at) >= since)
            .order_by(col(Case.received_at).desc())
            .limit(MAX_DIGEST_CASES + 1)
        ).scalars()
    )
    cases = [
        {
            "number": c.number,
            "subject": staff_view(app, c, member, language)(c.subject),
            "received_text": app.calendar.format_datetime(c.received_at, language),
        }
        for c in majors[:MAX_DIGEST_CASES]
    ]
    return {
        "staff_name": member.name,
        "limit": app.policy.limits.max_leadership_notices_per_hour,
        "cases": cases,
        "more": len(majors) > MAX_DIGEST_CASES,
        "organisation": organisation(app, language),
    }
