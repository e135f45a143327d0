"""The acknowledgement: the first automatic reply to a new complaint (24 h feedback promise)."""

from __future__ import annotations

from sqlmodel import Session

from models import Case, OutboundEmail
from workers.app import App
from workers.intake.screen import answers_our_mail
from workers.mail.parse import ParsedMail
from workers.outbound.letters import language_of, organisation, stage_label
from workers.outbound.outbox import ReplyRequest, queue_reply
from workers.outbound.render import is_english

_FIRST_ANSWER = ("我们给您初步答复的最迟时间", "the latest time of our first answer to you")


def acknowledgement_request(app: App, case: Case, mail: ParsedMail) -> ReplyRequest:
    cal = app.calendar
    sla = app.policy.sla
    lang = language_of(app, case.language)  # the templates' language: zh-TW reads zh-CN's
    due = cal.add_hours(case.received_at, sla.first_feedback_hours)
    return ReplyRequest(
        kind="acknowledgement",
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


def acknowledge(session: Session, app: App, case: Case, mail: ParsedMail) -> OutboundEmail | None:
    return queue_reply(session, app, case, acknowledgement_request(app, case, mail))
