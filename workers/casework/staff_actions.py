"""What each staff command does to a case: the handlers `workers.casework.staff_mail` runs in order.

A handler gets the mail being applied (`Run`), the command's index and the command; it writes
the case row and its Event, queues the complainant's mail for commands that send text (keyed on
the staff mail's Message-ID and the index, so a rerun never mails twice), and returns a short
note for the transcript. It raises `TransitionRefused` before writing anything when the live
case refuses (an unknown or merged merge target, no running decision deadline, text to the
complainant of a merged case, a `#close` on a closed case that owes no call-back).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from config.policy_staff import StaffMember, members_of
from models import Case, Deadline, DeadlineState, Event, OutboxStatus
from workers.app import App
from workers.casework.command_parse import Command, message_for
from workers.casework.command_plan import command_trigger, merged_refusal
from workers.casework.extension import pending_extension
from workers.casework.lifecycle import apply_trigger
from workers.casework.review_window import review_deadline
from workers.casework.transitions import Actor, Refusal, State, TransitionRefused, apply
from workers.clock import deadlines
from workers.clock.rules import extended_due
from workers.mail.parse import ParsedMail
from workers.outbound.letters import (
    Promise,
    format_day,
    language_of,
    notify_complainant,
    state_label,
)
from workers.outbound.render import is_english
from workers.outbound.staff_letters import notify_staff, staff_summary
from workers.triage.route_case import leadership_due
from workers.triage.staff_notice import queue_leadership_notice

TRANSITION_MAIL = {
    "accept": "acceptance", "reject": "not_accepted", "need-info": "need_info",
    "resolve": "result", "review-result": "review_result", "close": "case_closed_by_staff",
    "reopen": "case_reopened",
}  # fmt: skip
MAIL_LABELS = {
    "acceptance": ("受理通知", "acceptance notice"),
    "not_accepted": ("不予受理告知", "not-accepted notice"),
    "need_info": ("补充材料通知", "request for information"),
    "progress": ("进展答复", "progress reply"),
    "result": ("处理结果及复查告知", "result with the review notice"),
    "review_result": ("复查结论（最终）", "review result (final)"),
    "case_closed_by_staff": ("结案通知", "closing notice"),
    "case_reopened": ("重新办理通知", "reopening notice"),
    "extension_request": ("延期告知", "extension notice"),
    "extension_answered": ("延期确认", "extension confirmation"),
}
# docs/process.md#acceptance: the grounds as the complainant reads them.
REJECT_REASON_TEXT = {
    "no_facts": ("投诉缺少具体的事实和理由", "the complaint gives no concrete facts and reasons"),
    "in_litigation": ("该事项已由法院或仲裁机构受理或作出裁决",
                      "a court or arbitration body is handling or has decided the matter"),
    "other_authority": ("该事项已由其他机关处理", "another authority is handling the matter"),
    "already_settled": ("双方已就该事项达成和解，且没有新的情况",
                        "the parties already settled the matter and nothing new has come up"),
    "unlawful": ("投诉请求不符合法律规定", "the request is against the law"),
    "out_of_time": ("投诉超过了受理时限", "the complaint was made after the time limit"),
    "out_of_scope": ("该事项不属于本中心的受理范围", "the matter is outside our scope"),
}  # fmt: skip
_INFO_DUE = ("补充材料的截止日期", "the date by which to send the information")
_REVIEW_DUE = ("申请复查的截止日期", "the last day to ask for a review")
_EXTENDED = ("延长后的处理决定期限", "the extended date for our decision")


@dataclass
class Run:
    """One staff mail being applied: what every command handler needs."""

    session: Session
    app: App
    case: Case
    mail: ParsedMail
    member: StaffMember
    text: str  # the message under the commands
    language: str  # the staff member's, for the transcript
    at: datetime
    occasion: str  # the staff mail's Message-ID
    outbound: list[int] = field(default_factory=list)

    def refuse(self, code: str, zh: str, en: str) -> TransitionRefused:
        return TransitionRefused(Refusal(code, zh, en))

    def say(self, zh: str, en: str) -> str:
        return en if is_english(self.language) else zh


def state_text(run: Run, status: str) -> str:
    return state_label(status, run.language)


def _occasion(run: Run, index: int) -> str:
    return f"{run.occasion}#{index}"


def _mailed(run: Run, kind: str, outbound_id: int | None) -> str:
    zh, en = MAIL_LABELS[kind]
    if outbound_id is None:
        return run.say(f"未能发送{zh}（已被发送限制拦截）", f"{en} held back by the sending limit")
    run.outbound.append(outbound_id)
    return run.say(f"已发送{zh}给投诉人", f"{en} sent to the complainant")


# -- commands -----------------------------------------------------------------------------


def _transition(run: Run, index: int, command: Command) -> str:
    trigger = command_trigger(command)
    assert trigger is not None
    reason = command.args[0] if command.name == "reject" else ""
    apply_trigger(
        run.session,
        run.app,
        run.case,
        trigger,
        Actor.STAFF,
        by=run.member.id,
        at=run.at,
        reason=reason,
    )
    kind = TRANSITION_MAIL.get(command.name)
    if kind is None:
        return ""
    context, promise = _mail_context(run, command, kind)
    outbound_id = notify_complainant(
        run.session,
        run.app,
        run.case,
        kind,
        occasion=_occasion(run, index),
        at=run.at,
        context=context,
        promise=promise,
    )
    return _mailed(run, kind, outbound_id)


def _close(run: Run, index: int, command: Command) -> str:
    """Close; on a closed case, record the call-back that closing left owed."""
    case, at = run.case, run.at
    if State(case.status) == State.CLOSED:
        if not deadlines.callback_done(run.session, case, at):
            # Nothing owed: raises the state machine's refusal ("already closed", "final").
            apply(State.CLOSED, "close", Actor.STAFF, reviewed=case.review_decided_at is not None)
        record(run, "callback_recorded", text=message_for(command, run.text))
        return run.say("已记录回访", "call-back recorded")
    from_resolved = State(case.status) == State.RESOLVED
    note = _transition(run, index, command)
    if not from_resolved:
        return note
    parts = [note]
    window = review_deadline(run.app, case.result_sent_at or at)
    if at <= window:
        day = format_day(run.app, window, run.language)
        parts.append(
            run.say(
                f"复查期限至 {day}，期内投诉人申请复查的，案件将进入复查",
                f"the complainant may still ask for a review until {day}; "
                "a timely request reopens the case into review",
            )
        )
    callback = deadlines.callback_due(run.session, case)
    if callback is not None:
        due = run.app.calendar.format_datetime(callback, run.language)
        parts.append(
            run.say(
                f"请于 {due} 前回访投诉人，完成后回复 #结案 记录",
                f"call the complainant back by {due}, then reply #close to record it",
            )
        )
    return run.say("；".join(parts), "; ".join(parts))


def _mail_context(run: Run, command: Command, kind: str) -> tuple[dict[str, Any], Promise | None]:
    app, case, at = run.app, run.case, run.at
    language = language_of(app, case.language)
    context: dict[str, Any] = {"message": message_for(command, run.text)}
    promise = None
    if kind == "not_accepted":
        zh, en = REJECT_REASON_TEXT[command.args[0]]
        context["reason_text"] = en if is_english(language) else zh
    elif kind == "need_info":
        due = app.calendar.add_working_days(at, app.policy.sla.information_wait_working_days)
        promise = Promise(due, *_INFO_DUE)
    elif kind == "result":
        due = review_deadline(app, at)
        context["review_deadline_text"] = format_day(app, due, language)
        promise = Promise(due, *_REVIEW_DUE)
    elif kind == "case_closed_by_staff" and case.result_sent_at and not case.review_decided_at:
        # Closed early: the review right still runs, so that is the date they keep.
        due = review_deadline(app, case.result_sent_at)
        promise = Promise(due, *_REVIEW_DUE) if at <= due else None
    return context, promise


def _reply(run: Run, index: int, command: Command) -> str:
    outbound_id = notify_complainant(
        run.session,
        run.app,
        run.case,
        "progress",
        occasion=_occasion(run, index),
        at=run.at,
        context={"message": message_for(command, run.text)},
    )
    return _mailed(run, "progress", outbound_id)


def record(run: Run, kind: str, **detail: Any) -> None:
    run.session.add(
        Event(case_id=run.case.id, at=run.at, actor=run.member.id, kind=kind, detail=detail)
    )


def _note(run: Run, index: int, command: Command) -> str:
    record(run, "note", text=message_for(command, run.text))
    return run.say("已记入内部备注（不发给投诉人）", "kept as an internal note (never sent)")


def _assign(run: Run, index: int, command: Command) -> str:
    target, case, policy = command.args[0], run.case, run.app.policy
    previous = {"group": case.assigned_group, "assignee": case.assignee}
    member = next((s for s in policy.staff if s.id.lower() == target), None)
    group = next((g for g in policy.groups if g.id.lower() == target), None)
    if member is not None:
        case.assignee = member.id
        if member.groups and case.assigned_group not in member.groups:
            case.assigned_group = member.groups[0]
        told = [member]
    elif group is not None:
        case.assigned_group, case.assignee = group.id, None
        told = [m for m in members_of(policy.staff, group.id) if m.on_duty]
    else:  # the policy lists no staff or groups, so parsing could not check the id
        raise run.refuse(
            "no_such_assignee",
            f"没有小组或工作人员「{target}」。",
            f"There is no group or staff member '{target}'.",
        )
    run.session.add(case)
    record(run, "assigned", group=case.assigned_group, assignee=case.assignee, previous=previous)
    for other in told:
        if other.id != run.member.id:
            _notice_assigned(run, index, other)
    who = case.assignee or case.assigned_group
    return run.say(f"已转给 {who}", f"handed to {who}")


def _notice_assigned(run: Run, index: int, member: StaffMember) -> None:
    language = language_of(run.app, run.app.policy.default_language)
    zh = f"{run.member.name}将案件 {run.case.number} 转给您办理。"
    en = f"{run.member.name} handed case {run.case.number} to you."
    outbound_id = notify_staff(
        run.session,
        run.app,
        run.case,
        member,
        "staff_followup_notice",
        occasion=_occasion(run, index),
        language=language,
        context={
            "title": "Case handed to you" if is_english(language) else "案件转办",
            "note": en if is_english(language) else zh,
            "message": "",
            "summary": staff_summary(run.session, run.app, run.case, language),
        },
    )
    if outbound_id is not None:
        run.outbound.append(outbound_id)


def _category(run: Run, index: int, command: Command) -> str:
    case = run.case
    record(run, "category_set", previous=case.category, category=command.args[0])
    case.category, case.category_set_by = command.args[0], run.member.id
    run.session.add(case)
    return run.say(f"分类为 {case.category}", f"category is {case.category}")


def _severity(run: Run, index: int, command: Command) -> str:
    case = run.case
    record(run, "severity_set", previous=case.severity, severity=command.args[0])
    case.severity, case.severity_set_by = command.args[0], run.member.id
    run.session.add(case)
    run.session.flush()
    deadlines.on_severity_set(run.session, run.app, case, run.at)
    if leadership_due(run.app, case):
        # docs/process.md#severity: leadership is told of a major case at once, whoever raised it.
        reason = f"severity {case.severity}: set by {run.member.name}"
        rows = queue_leadership_notice(run.session, run.app, case, [reason])
        run.outbound += [
            row.id for row in rows if row.status == OutboxStatus.QUEUED and row.id is not None
        ]
    return run.say(f"级别为 {case.severity}", f"severity is {case.severity}")


def _merge(run: Run, index: int, command: Command) -> str:
    number, case = command.args[0], run.case
    target = run.session.execute(
        select(Case).where(col(Case.number) == number)
    ).scalar_one_or_none()
    if target is None:
        raise run.refuse("no_such_case", f"没有案件 {number}。", f"There is no case {number}.")
    if target.id == case.id:
        raise run.refuse(
            "same_case", "不能把案件并入它自己。", "A case cannot be merged into itself."
        )
    if case.merged_into:
        into = case.merged_into
        raise run.refuse(
            "already_merged", f"本案件已并入 {into}。", f"This case is already merged into {into}."
        )
    if target.merged_into:  # merging into it would hide this case one step further away
        into = target.merged_into
        raise run.refuse(
            "target_merged",
            f"案件 {number} 已并入 {into}，请并入 {into}。",
            f"Case {number} is merged into {into}; merge into {into} instead.",
        )
    if target.status == State.WITHDRAWN:
        raise run.refuse(
            "target_withdrawn",
            f"案件 {number} 已被投诉人撤回，不能并入。",
            f"Case {number} was withdrawn by its complainant; nothing can join it.",
        )
    case.merged_into = target.number
    run.session.add(case)
    record(run, "merged_into", into=target.number)
    run.session.add(
        Event(
            case_id=target.id,
            at=run.at,
            actor=run.member.id,
            kind="case_merged",
            detail={"from": case.number},
        )
    )
    return run.say(f"已并入 {target.number}", f"merged into {target.number}")


def _malicious(run: Run, index: int, command: Command) -> str:
    run.case.malicious = True
    run.session.add(run.case)
    record(run, "marked_malicious", reason=message_for(command, run.text))
    return run.say("已标记为恶意投诉", "marked as a malicious complaint")


def _nothing(run: Run, index: int, command: Command) -> str:
    return ""  # status and help: the transcript shows the state and the help text


def _extend(run: Run, index: int, command: Command) -> str:
    days, reason = int(command.args[0]), command.args[1]
    app, case = run.app, run.case
    due = decision_due(run.session, case)
    if due is None:
        raise run.refuse(
            "no_decision_deadline",
            "当前没有正在计时的处理决定期限，无需延期。",
            "No decision deadline is running; there is nothing to extend.",
        )
    if app.policy.sla.extension_needs_consent:
        proposed = extended_due(due, days, app.calendar)
        record(
            run, "extension_requested", days=days, reason=reason, proposed_due=proposed.isoformat()
        )
        consent, new_date = True, proposed
    else:
        new_date = deadlines.extend(run.session, app, case, days, run.at)
        record(
            run,
            "extension_granted",
            days=days,
            reason=reason,
            due=new_date.isoformat(),
            consent="not needed",
        )
        consent = False
    language = language_of(app, case.language)
    outbound_id = notify_complainant(
        run.session,
        app,
        case,
        "extension_request",
        occasion=_occasion(run, index),
        at=run.at,
        context={
            "days": days,
            "reason": reason,
            "consent_needed": consent,
            "new_date_text": format_day(app, new_date, language),
        },
        promise=None if consent else Promise(new_date, *_EXTENDED),
    )
    mailed = _mailed(run, "extension_request", outbound_id)
    if consent:
        return run.say(
            f"{mailed}，待投诉人同意后期限顺延 {days} 个工作日",
            f"{mailed}; the deadline moves {days} working days once they agree",
        )
    return run.say(
        f"期限已延至 {format_day(app, new_date, run.language)}；{mailed}",
        f"deadline now {format_day(app, new_date, run.language)}; {mailed}",
    )


def _consent(run: Run, index: int, command: Command) -> str:
    """The complainant agreed to a pending extension outside mail (a call): the staff member
    records it, the deadline moves as if they had replied "同意", and they get it in writing."""
    app, case = run.app, run.case
    request = pending_extension(run.session, case)
    if request is None:
        raise run.refuse(
            "no_extension_request",
            "没有等待投诉人答复的延期申请。",
            "No extension request is waiting for the complainant's answer.",
        )
    days = int(request.detail["days"])
    try:
        new_due = deadlines.extend(run.session, app, case, days, run.at)
    except ValueError:  # the decision deadline ended since the request
        raise run.refuse(
            "no_decision_deadline",
            "当前没有正在计时的处理决定期限，无法延期。",
            "No decision deadline is running; the extension cannot apply.",
        ) from None
    how = command.args[-1] if command.args else ""
    record(
        run,
        "extension_answered",
        agreed=True,
        days=days,
        requested_by=request.actor,
        due=new_due.isoformat(),
        recorded_by=run.member.id,
        how=how,
    )
    language = language_of(app, case.language)
    outbound_id = notify_complainant(
        run.session,
        app,
        case,
        "extension_answered",
        occasion=_occasion(run, index),
        at=run.at,
        context={"agreed": True, "days": days, "new_date_text": format_day(app, new_due, language)},
        promise=Promise(new_due, *_EXTENDED),
    )
    mailed = _mailed(run, "extension_answered", outbound_id)
    return run.say(
        f"期限已延至 {format_day(app, new_due, run.language)}；{mailed}",
        f"deadline now {format_day(app, new_due, run.language)}; {mailed}",
    )


def decision_due(session: Session, case: Case) -> datetime | None:
    """The due moment of the case's running decision deadline (what `#extend` moves)."""
    return session.execute(
        select(col(Deadline.due_at))
        .where(
            col(Deadline.case_id) == case.id,
            col(Deadline.kind) == "decision",
            col(Deadline.closed_at).is_(None),
            col(Deadline.state).in_(
                (DeadlineState.PENDING, DeadlineState.PAUSED, DeadlineState.MISSED)
            ),
        )
        .order_by(col(Deadline.id).desc())
        .limit(1)
    ).scalar_one_or_none()


Handler = Callable[[Run, int, Command], str]


def _unless_merged(handler: Handler) -> Handler:
    """Text to the complainant of a merged case belongs on the case it joined (checked on the
    live row: the plan does not know of merges)."""

    def run_unless_merged(run: Run, index: int, command: Command) -> str:
        if run.case.merged_into:
            raise TransitionRefused(merged_refusal(command.name, run.case.merged_into))
        return handler(run, index, command)

    return run_unless_merged


HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(("accept", "reject", "resolve", "review-accept", "review-result",
                     "reopen"), _transition),
    "need-info": _unless_merged(_transition), "close": _close,
    "reply": _unless_merged(_reply), "note": _note, "assign": _assign, "category": _category,
    "severity": _severity, "merge": _merge, "malicious": _malicious,
    "extend": _unless_merged(_extend), "consent": _unless_merged(_consent),
    "status": _nothing, "help": _nothing,
}  # fmt: skip
