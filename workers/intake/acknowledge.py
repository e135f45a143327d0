"""The acknowledgement: the first automatic reply to a new complaint (24 h feedback promise).

A complaint's From is whatever its sender wrote, so the acknowledgement may go to someone who
never wrote: a flood of complaints with forged From addresses would make the official address
mail every victim. Beyond `[limits] max_acknowledgements_per_domain_per_hour` to one domain, or
`max_acknowledgements_per_hour` to all, the case is opened as usual, unacknowledged, and the
suppression is an event staff see (`case show`). On PostgreSQL, batches running in parallel
count each other's committed rows only, so the caps may be passed by the rows of the batches
in flight (workers × `ingest_batch` at most); the per-address cap of `queue_reply` is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, func, select
from sqlmodel import Session, col

from models import Case, Event, OutboundEmail
from models.types import utcnow
from workers.app import App
from workers.intake.screen import answers_our_mail
from workers.mail.parse import ParsedMail
from workers.outbound.letters import language_of, organisation, stage_label
from workers.outbound.outbox import ReplyRequest, queue_reply
from workers.outbound.render import is_english

_FIRST_ANSWER = ("我们给您初步答复的最迟时间", "the latest time of our first answer to you")
_KIND = "acknowledgement"
# Acknowledgements since a moment: to all, and to addresses ending in one "@domain".
_SENT_SINCE = select(
    func.count(),
    func.count().filter(col(OutboundEmail.to_addr).like(bindparam("at_domain"), escape="\\")),
).where(
    col(OutboundEmail.kind) == _KIND,
    col(OutboundEmail.created_at) >= bindparam("since"),
)


@dataclass(frozen=True)
class AckBudget:
    per_domain: int
    overall: int


def over_budget(sent_to_domain: int, sent_overall: int, budget: AckBudget) -> str | None:
    """Why one more acknowledgement this hour is too many (None: it is not)."""
    if sent_overall >= budget.overall:
        return f"{budget.overall} acknowledgements in the past hour"
    if sent_to_domain >= budget.per_domain:
        return f"{budget.per_domain} acknowledgements to this domain in the past hour"
    return None


def acknowledgement_request(app: App, case: Case, mail: ParsedMail) -> ReplyRequest:
    cal = app.calendar
    sla = app.policy.sla
    lang = language_of(app, case.language)  # the templates' language: zh-TW reads zh-CN's
    due = cal.add_hours(case.received_at, sla.first_feedback_hours)
    return ReplyRequest(
        kind=_KIND,
        occasion=mail.message_id or f"raw{case.id}",
        to_addr=case.complainant_email,
        to_name=case.complainant_name,
        language=lang,
        context={
            "received_at_text": cal.format_datetime(case.received_at, lang),
            "feedback_due_text": cal.format_datetime(due, lang),
            # The stage block every complainant mail carries (templates/*/_stage.*).
            "stage": stage_label(app, case, lang),
            "next_date_text": cal.format_datetime(due, lang),
            "next_what": _FIRST_ANSWER[1] if is_english(lang) else _FIRST_ANSWER[0],
            "original_subject": case.subject,
            "organisation": organisation(app, lang),
            "sla": sla,
        },
        in_reply_to=mail.message_id,
        references=[*mail.references, *([mail.message_id] if mail.message_id else [])],
        answers_our_mail=answers_our_mail(mail, app.own_addresses, app.policy.case_number_prefix),
    )


def acknowledgement_budget_refusal(session: Session, app: App, case: Case) -> str | None:
    limits = app.policy.limits
    budget = AckBudget(
        limits.max_acknowledgements_per_domain_per_hour, limits.max_acknowledgements_per_hour
    )
    domain = case.complainant_email.lower().rpartition("@")[2]
    pattern = "%@" + domain.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    overall, to_domain = session.execute(
        _SENT_SINCE, {"at_domain": pattern, "since": utcnow() - timedelta(hours=1)}
    ).one()
    return over_budget(int(to_domain), int(overall), budget)


def acknowledge(session: Session, app: App, case: Case, mail: ParsedMail) -> OutboundEmail | None:
    refusal = acknowledgement_budget_refusal(session, app, case)
    if refusal is not None:
        session.add(
            Event(
                case_id=case.id,
                kind="acknowledgement_suppressed",
                detail={"to": case.complainant_email, "reason": refusal},
            )
        )
        return None
    return queue_reply(session, app, case, acknowledgement_request(app, case, mail))
