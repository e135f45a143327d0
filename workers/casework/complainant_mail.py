"""React to a complainant's reply on their case, by what its new text asks.

Called by `workers.casework.follow_up` once the mail is filed on the case. Only the new text counts
(quotes are cut by `workers.casework.intent`). `react_to_complainant` loads what the decision
needs, asks `workers.casework.complainant_plan.plan_reaction` (the decision table), and carries
the reaction out: rows and events written, mails to the complainant and staff queued.
The review window is review_window_working_days of result_sent_at, on the calendar
(`workers.casework.review_window`); while it is open any reply that gives reasons counts as a
review request (workers.casework.intent).
Moments are the mail's arrival (raw_message.received_at): a timely request stays timely when
the workers were down or the scheduler closed the case before the mail was processed.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any

from sqlmodel import Session

from config.policy_staff import StaffMember, members_of
from models import Case, Event
from workers.app import App
from workers.casework.complainant_plan import ReactionKind, plan_reaction
from workers.casework.extension import pending_extension
from workers.casework.intent import Intent, complainant_intent
from workers.casework.lifecycle import apply_trigger
from workers.casework.review_window import review_deadline, review_window_open
from workers.casework.transitions import Actor, State, Trigger
from workers.clock import deadlines
from workers.mail.parse import ParsedMail
from workers.mail.quoting import strip_quoted
from workers.mail.redact import staff_view
from workers.outbound.letters import (
    Promise,
    format_day,
    language_of,
    notify_complainant,
    stage_label,
)
from workers.outbound.render import is_english
from workers.outbound.staff_letters import notify_staff, staff_summary

_DECLINE = re.compile(
    r"不同意|不接受|不能接受|拒绝|不可以|不行|反对|"
    r"\b(disagree|decline|refuse|object)\b|\b(do not|don't|not) agree\b|^\s*no\b(?!\s+problem)",
    re.IGNORECASE,
)
_AGREE = re.compile(
    r"同意|接受|可以|好的|没问题|没有问题|"
    r"\b(agree|agreed|ok|okay|yes|accept|fine|sure)\b|\bno problem\b",
    re.IGNORECASE,
)
# A question about the extension is no answer to it ("可以告诉我为什么吗？").
_QUESTION = re.compile(r"[?？吗]|为什么|怎么|\b(why|how|what|when)\b", re.IGNORECASE)
_GREETING = re.compile(r"^(您好|你好|hi|hello|dear\b.*|尊敬的.*)[\s,，!！:：。.]*$", re.IGNORECASE)
_MAX_ANSWER_LINE = 40  # a consent is a short line; a longer one is a story for staff to read
# The stage block of a late review request: nothing more is owed, say what is left to them.
_WINDOW_PASSED = (
    "无，申请复查的期限已过；如有新的问题，请发送新的邮件",
    "none, the time to ask for a review has passed; for a new matter, please send a new mail",
)

# reason -> (title zh, title en, note zh, note en); notes are formatted with the values given.
NOTICES: dict[str, tuple[str, str, str, str]] = {
    "info": ("投诉人来信", "Mail from the complainant",
             "投诉人在案件上来信，已存入案件记录。", "The complainant wrote on the case; the mail is filed."),
    "info_supplied": (
        "投诉人已补充材料", "Information supplied",
        "投诉人补充了材料，案件回到「已收到」，处理时限继续计算。请审查后受理（#受理）或答复。",
        "The complainant supplied information; the case is back to 'received' and the clock runs "
        "on. Review it, then #accept or answer."),
    "review_requested": (
        "投诉人申请复查", "Review requested",
        "投诉人在期限内申请复查（「{evidence}」），系统已回复确认收到。请在 {days} 个工作日内受理"
        "复查（#复查受理），然后作出复查结论（#复查结论）。",
        "The complainant asked for a review in time ('{evidence}'); receipt was confirmed to them. "
        "Accept the review within {days} working days (#review-accept), then give its result "
        "(#review-result)."),
    "review_after_close": (
        "投诉人申请复查（案件已结案）", "Review requested on a closed case",
        "投诉人在复查期限内申请复查（「{evidence}」）。案件此前已结案，但复查权利在期限内有效，"
        "案件已进入复查，系统已回复确认收到。请在 {days} 个工作日内受理复查（#复查受理），"
        "然后作出复查结论（#复查结论）。",
        "The complainant asked for a review within the window ('{evidence}'). The case had been "
        "closed, but the right to a review runs for the whole window, so the case is now in "
        "review and receipt was confirmed to them. Accept the review within {days} working days "
        "(#review-accept), then give its result (#review-result)."),
    "review_late": (
        "复查申请已逾期", "Late review request",
        "投诉人申请复查（「{evidence}」），但复查期限已于 {deadline} 届满，系统已回复告知。",
        "The complainant asked for a review ('{evidence}') after the window ended on {deadline}; "
        "they were told."),
    "review_not_possible": (
        "投诉人要求复查", "Complainant asks for a review",
        "投诉人表示不服或要求复查（「{evidence}」），但案件当前为「{state}」，无法自动进入复查，"
        "请查看来信。",
        "The complainant disagrees or asks for a review ('{evidence}'), but the case is {state}, "
        "so no review was opened; please read the mail."),
    "withdrawn": ("投诉人撤回投诉", "Complaint withdrawn",
                  "投诉人撤回了投诉（「{evidence}」），案件已结束，系统已回复确认。",
                  "The complainant withdrew the complaint ('{evidence}'); the case has ended and "
                  "they were sent a confirmation."),
    "withdrawal_not_possible": (
        "投诉人要求撤回", "Complainant asks to withdraw",
        "投诉人要求撤回（「{evidence}」），但处理结果已发出，无法自动撤回，请查看来信。",
        "The complainant asks to withdraw ('{evidence}'), but the result was already sent, so "
        "nothing was changed; please read the mail."),
    "extension_agreed": (
        "投诉人同意延期", "Extension agreed",
        "投诉人同意延期 {days} 个工作日，处理决定期限已延至 {due}。",
        "The complainant agreed to {days} more working days; the decision is now due {due}."),
    "extension_not_applied": (
        "投诉人同意延期", "Extension agreed",
        "投诉人同意延期 {days} 个工作日，但当前没有正在计时的处理决定期限，期限未变。",
        "The complainant agreed to {days} more working days, but no decision deadline is "
        "running, so nothing moved."),
    "confirm_asked": (
        "投诉人来信待确认", "Request awaiting confirmation",
        "一封以投诉人地址发出的邮件要求「{request}」（「{evidence}」），但它没有发往投诉人的签名回复地址，"
        "无法确认为本人所发。案件未作改变，已请投诉人回复确认。",
        "A mail from the complainant's address asks to {request} ('{evidence}'), but it did not "
        "come to their signed reply address, so it may not be theirs. Nothing changed; they were "
        "asked to confirm by replying."),
    "extension_declined": (
        "投诉人不同意延期", "Extension declined",
        "投诉人不同意延期，请按原期限作出处理决定。",
        "The complainant does not agree to the extension; decide by the original date."),
}  # fmt: skip


def react_to_complainant(
    session: Session,
    app: App,
    case: Case,
    mail: ParsedMail,
    at: datetime,
    occasion: str,
    *,
    verified: bool,
) -> list[int]:
    """The automatic reaction to one complainant mail; the outbound ids it queued.

    `verified` (workers.casework.complainant_auth): the mail may change the case; otherwise a
    change it asks for waits for the complainant's confirmation."""
    # Any mail of theirs while a review may be asked answers the result, threaded or not: mail
    # reaches this case by its token, References or subject tag, and a client that drops
    # In-Reply-To (webmail, a fresh mail with the case number) must not cost the right.
    window_open = review_window_open(app, case, at)
    intent = complainant_intent(mail.body_text, mail.subject, answering_result=window_open)
    text = strip_quoted(mail.body_text)
    pending = pending_extension(session, case)
    reaction = plan_reaction(
        State(case.status),
        intent.kind,
        result_sent=case.result_sent_at is not None,
        review_decided=case.review_decided_at is not None,
        review_window_open=window_open,
        extension_pending=pending is not None,
        consent=consent_answer(text),
        verified=verified,
    )
    match reaction.kind:
        case ReactionKind.CONFIRM_FIRST:
            assert reaction.wanted is not None
            return ask_to_confirm(
                session, app, case, mail, reaction.wanted, intent, reaction.notice, at, occasion
            )
        case ReactionKind.RECORD_RATING:
            return rate(session, case, intent, at)
        case ReactionKind.DECISION_FINAL:
            return answer_decision_final(session, app, case, at, occasion)
        case ReactionKind.WITHDRAW:
            return withdraw(session, app, case, intent, reaction.notice, at, occasion)
        case ReactionKind.ANSWER_EXTENSION if pending is not None:
            return answer_extension(
                session, app, case, pending, bool(reaction.agreed), at, occasion
            )
        case ReactionKind.OPEN_REVIEW:
            return open_review(session, app, case, intent, reaction.notice, text, at, occasion)
        case ReactionKind.WINDOW_CLOSED:
            return refuse_late_review(
                session, app, case, intent, reaction.notice, text, at, occasion
            )
        case ReactionKind.SUPPLY_INFORMATION:
            apply_trigger(
                session,
                app,
                case,
                Trigger.INFO_SUPPLIED,
                Actor.COMPLAINANT,
                by=case.complainant_email,
                at=at,
            )
            return tell_staff(session, app, case, reaction.notice, occasion, text)
        case ReactionKind.REVIEW_NOT_POSSIBLE:
            return tell_staff(
                session,
                app,
                case,
                reaction.notice,
                occasion,
                text,
                evidence=intent.evidence,
                state=State(case.status),
            )
        case ReactionKind.WITHDRAWAL_NOT_POSSIBLE:
            return tell_staff(
                session, app, case, reaction.notice, occasion, text, evidence=intent.evidence
            )
        case ReactionKind.FILE_ONLY:
            return tell_staff(session, app, case, reaction.notice, occasion, text)
    raise ValueError(f"no way to carry out {reaction} on case {case.id}")


# What an unconfirmed mail asked for, as the confirmation request and the staff notice name it.
REQUESTS: dict[ReactionKind, tuple[str, str]] = {
    ReactionKind.WITHDRAW: ("撤回投诉", "withdraw the complaint"),
    ReactionKind.RECORD_RATING: ("记录满意度评价", "record a rating of our handling"),
    ReactionKind.ANSWER_EXTENSION: (
        "答复延长办理期限的征求意见",
        "answer our request to extend the handling time",
    ),
    ReactionKind.OPEN_REVIEW: ("申请复查", "have the decision reviewed"),
}


def ask_to_confirm(
    session: Session,
    app: App,
    case: Case,
    mail: ParsedMail,
    wanted: ReactionKind,
    intent: Intent,
    notice: str,
    at: datetime,
    occasion: str,
) -> list[int]:
    """A change asked for without the signed reply address: nothing changes; the complainant is
    asked at the case's address (never the mail's) to confirm by replying to our mail, whose
    Reply-To is their signed address; staff are told. Their words are not repeated to them."""
    session.add(
        Event(
            case_id=case.id,
            at=at,
            actor=mail.from_addr[:64],
            kind="confirmation_requested",
            detail={
                "wanted": wanted.value,
                "evidence": intent.evidence,
                "from": mail.from_addr,
                "message_id": mail.message_id,
            },
        )
    )
    language = language_of(app, case.language)
    zh, en = REQUESTS[wanted]
    outbound_id = notify_complainant(
        session,
        app,
        case,
        "confirmation_request",
        occasion=occasion,
        at=at,
        written_by_staff=False,
        context={
            "request": en if is_english(language) else zh,
            "received_text": app.calendar.format_datetime(at, language),
        },
    )
    ids = [outbound_id] if outbound_id is not None else []
    staff_language = language_of(app, app.policy.default_language)
    request = en if is_english(staff_language) else zh
    return ids + tell_staff(
        session, app, case, notice, occasion, "", request=request, evidence=intent.evidence
    )


def answer_decision_final(
    session: Session, app: App, case: Case, at: datetime, occasion: str
) -> list[int]:
    """The review result is final: answer so, never reopen."""
    language = language_of(app, case.language)
    decided = app.calendar.format_date(case.review_decided_at or at, language)
    outbound_id = notify_complainant(
        session,
        app,
        case,
        "decision_final",
        occasion=occasion,
        at=at,
        context={"decided_at_text": decided},
        written_by_staff=False,
    )
    return [outbound_id] if outbound_id is not None else []


def withdraw(
    session: Session,
    app: App,
    case: Case,
    intent: Intent,
    notice: str,
    at: datetime,
    occasion: str,
) -> list[int]:
    apply_trigger(
        session,
        app,
        case,
        Trigger.WITHDRAW,
        Actor.COMPLAINANT,
        by=case.complainant_email,
        at=at,
        reason=intent.evidence,
    )
    outbound_id = notify_complainant(
        session, app, case, "withdrawal_confirmed", occasion=occasion, at=at, written_by_staff=False
    )
    ids = [outbound_id] if outbound_id is not None else []
    return ids + tell_staff(session, app, case, notice, occasion, "", evidence=intent.evidence)


def refuse_late_review(
    session: Session,
    app: App,
    case: Case,
    intent: Intent,
    notice: str,
    text: str,
    at: datetime,
    occasion: str,
) -> list[int]:
    """A review asked for after the window: recorded, and the complainant politely told."""
    sent = case.result_sent_at
    assert sent is not None  # the plan refuses a late review only of a result that was sent
    language = language_of(app, case.language)
    deadline = review_deadline(app, sent)
    session.add(
        Event(
            case_id=case.id,
            at=at,
            actor=case.complainant_email[:64],
            kind="review_request_late",
            detail={"evidence": intent.evidence, "window_end": deadline.isoformat()},
        )
    )
    outbound_id = notify_complainant(
        session,
        app,
        case,
        "review_window_closed",
        occasion=occasion,
        at=at,
        written_by_staff=False,
        promise=Promise(None, *_WINDOW_PASSED),
        context={
            "result_sent_text": app.calendar.format_date(sent, language),
            "review_deadline_text": app.calendar.format_date(deadline, language),
        },
    )
    ids = [outbound_id] if outbound_id is not None else []
    return ids + tell_staff(
        session, app, case, notice, occasion, text, evidence=intent.evidence, deadline=deadline
    )


def open_review(
    session: Session,
    app: App,
    case: Case,
    intent: Intent,
    notice: str,
    text: str,
    at: datetime,
    occasion: str,
) -> list[int]:
    """A timely review request: into review (from a closed case too), and receipt confirmed."""
    language = language_of(app, case.language)
    apply_trigger(
        session,
        app,
        case,
        Trigger.REQUEST_REVIEW,
        Actor.COMPLAINANT,
        by=case.complainant_email,
        at=at,
        reason=intent.evidence,
    )
    outbound_id = notify_complainant(
        session,
        app,
        case,
        "review_ack",
        occasion=occasion,
        at=at,
        written_by_staff=False,
        context={"requested_at_text": app.calendar.format_datetime(at, language)},
        promise=_review_ack_promise(session, app, case, at),
    )
    ids = [outbound_id] if outbound_id is not None else []
    return ids + tell_staff(
        session,
        app,
        case,
        notice,
        occasion,
        text,
        evidence=intent.evidence,
        days=app.policy.sla.review_ack_working_days,
    )


def _review_ack_promise(session: Session, app: App, case: Case, at: datetime) -> Promise:
    due = deadlines.next_date(session, app, case) or app.calendar.add_working_days(
        at, app.policy.sla.review_ack_working_days
    )
    return Promise(due, "受理复查的最迟日期", "the latest date we take up the review")


def rate(session: Session, case: Case, intent: Intent, at: datetime) -> list[int]:
    case.satisfaction = intent.score
    session.add(case)
    # The call-back (回访) exists to record satisfaction: their own rating is that record.
    deadlines.callback_done(session, case, at)
    session.add(
        Event(
            case_id=case.id,
            at=at,
            actor=case.complainant_email[:64],
            kind="satisfaction_recorded",
            detail={"score": intent.score, "evidence": intent.evidence},
        )
    )
    return []


# -- extension consent ---------------------------------------------------------------------


def consent_answer(text: str) -> bool | None:
    """True for "同意"/"agree", False for "不同意"/"disagree", None when the first line of the
    new text (after any greeting) is not a short answer."""
    lines = [line.strip() for line in unicodedata.normalize("NFKC", text).split("\n")]
    first = next((line for line in lines if line and not _GREETING.match(line)), "")
    if not first or len(first) > _MAX_ANSWER_LINE or _QUESTION.search(first):
        return None
    if _DECLINE.search(first):
        return False
    return True if _AGREE.search(first) else None


def answer_extension(
    session: Session,
    app: App,
    case: Case,
    request: Event,
    agreed: bool,
    at: datetime,
    occasion: str,
) -> list[int]:
    days = int(request.detail["days"])
    new_due: datetime | None = None
    if agreed:
        try:
            new_due = deadlines.extend(session, app, case, days, at)
        except ValueError:  # the decision deadline ended meanwhile
            new_due = None
    session.add(
        Event(
            case_id=case.id,
            at=at,
            actor=case.complainant_email[:64],
            kind="extension_answered",
            detail={
                "agreed": agreed,
                "days": days,
                "requested_by": request.actor,
                "due": new_due.isoformat() if new_due else None,
            },
        )
    )
    language = language_of(app, case.language)
    outbound_id = notify_complainant(
        session,
        app,
        case,
        "extension_answered",
        occasion=occasion,
        at=at,
        written_by_staff=False,
        context={
            "agreed": agreed,
            "days": days,
            "new_date_text": format_day(app, new_due, language),
        },
    )
    ids = [outbound_id] if outbound_id is not None else []
    reason = (
        ("extension_agreed" if new_due else "extension_not_applied")
        if agreed
        else ("extension_declined")
    )
    due_text = format_day(app, new_due, language_of(app, app.policy.default_language))
    return ids + tell_staff(session, app, case, reason, occasion, "", days=days, due=due_text)


# -- telling staff -------------------------------------------------------------------------


def notice_recipients(app: App, case: Case) -> list[StaffMember]:
    """The assigned staff member; when there is none, intake's members on duty."""
    staff = app.policy.staff
    assignee = next((s for s in staff if s.id == case.assignee), None)
    if assignee is not None:
        return [assignee]
    return [m for m in members_of(staff, app.policy.routing.intake_group) if m.on_duty]


def tell_staff(
    session: Session,
    app: App,
    case: Case,
    reason: str,
    occasion: str,
    message: str,
    **values: Any,
) -> list[int]:
    """A staff_followup_notice about this mail to whoever handles the case.

    The complainant's words (the subject, the new text with its signature, what the note
    quotes) reach an assignee outside intake with the complainant's identity masked."""
    language = language_of(app, app.policy.default_language)
    title_zh, title_en, note_zh, note_en = NOTICES[reason]
    if "state" in values:
        values["state"] = stage_label(app, case, language)
    if isinstance(values.get("deadline"), datetime):
        values["deadline"] = format_day(app, values["deadline"], language)
    english = is_english(language)
    note = (note_en if english else note_zh).format(**values)
    context = {
        "title": title_en if english else title_zh,
        "note": note,
        "message": message,
        "summary": staff_summary(session, app, case, language),
    }
    ids = []
    for member in notice_recipients(app, case):
        view = staff_view(app, case, member, language)
        seen = {**context, "note": view(note), "message": view(message)}
        outbound_id = notify_staff(
            session,
            app,
            case,
            member,
            "staff_followup_notice",
            occasion=f"{occasion}:{reason}",
            language=language,
            context=seen,
        )
        if outbound_id is not None:
            ids.append(outbound_id)
    return ids
