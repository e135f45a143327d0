"""Run a staff command mail: plan the commands, apply them, mail the complainant, confirm.

Called by `workers.casework.follow_up` for a mail filed on a case whose sender claims a staff address.
A verified mail (`workers.casework.staff_auth`) has its commands planned over the case's state
(`command_plan.plan`), then applied in order: transitions through `lifecycle.apply_trigger`, the
other commands on the case row, each with its Event. Commands that send text mail it to the
complainant with the matching template; every mail is keyed on the staff mail's Message-ID and
the command's index, so a rerun never mails twice. Last, the staff member receives a transcript
(each command: ok, or why it was refused; the case's new state), also kept as a
`staff_commands` Event for `case show`. A refused mail runs nothing; the refusal is logged,
and a real staff address is told why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from models import Case, Event
from workers.app import App
from workers.casework.command_parse import (
    CommandMail,
    help_text,
    parse_command_mail,
    vocabulary_of,
)
from workers.casework.command_plan import Outcome, plan
from workers.casework.staff_actions import HANDLERS, Run, record, state_text
from workers.casework.staff_auth import StaffAuth
from workers.casework.transitions import State, TransitionRefused
from workers.mail.parse import ParsedMail, detect_language
from workers.outbound.letters import language_of
from workers.outbound.staff_letters import notify_staff, staff_summary

_HAN = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Done:
    """What one command did, for the transcript and the event log."""

    line: str
    ok: bool
    reason: str = ""
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "ok": self.ok, "reason": self.reason, "note": self.note}


def read_commands(app: App, mail: ParsedMail) -> CommandMail:
    """The commands of a mail, checked against this installation's categories and staff."""
    return parse_command_mail(mail.body_text, vocabulary_of(app.policy))


def staff_language(app: App, mail: ParsedMail, commands: CommandMail) -> str:
    """The language to answer a staff member in: that of their text under the commands, else
    Chinese when a command is spelt in Chinese, else the installation's default."""
    if commands.text:
        return language_of(app, detect_language(commands.text))
    if any(_HAN.search(c.line) for c in commands.commands):
        return language_of(app, "zh-CN")
    return language_of(app, app.policy.default_language)


def run_staff_mail(
    session: Session,
    app: App,
    case: Case,
    mail: ParsedMail,
    at: datetime,
    occasion: str,
    auth: StaffAuth,
    commands: CommandMail,
) -> list[int]:
    """Apply (or refuse) the commands of one staff mail; the outbound ids it queued."""
    if not auth.allowed:
        return refuse_mail(session, app, case, mail, at, occasion, auth, commands)
    assert auth.staff is not None
    language = staff_language(app, mail, commands)
    run = Run(session, app, case, mail, auth.staff, commands.text, language, at, occasion)
    reviewed = case.review_decided_at is not None
    outcomes = plan(commands.commands, State(case.status), reviewed=reviewed)
    done = [execute(run, index, outcome) for index, outcome in enumerate(outcomes)]
    wants_help = any(o.ok and o.command.name == "help" for o in outcomes)
    help_wanted = help_text(run.language, vocabulary_of(run.app.policy)) if wants_help else ""
    send_transcript(run, done, help_wanted)
    return run.outbound


def execute(run: Run, index: int, outcome: Outcome) -> Done:
    command = outcome.command
    if not outcome.ok:
        assert outcome.refusal is not None
        return Done(command.line, False, outcome.refusal.text(run.language))
    try:
        note = HANDLERS[command.name](run, index, command)
    except TransitionRefused as refused:  # checked on the live row (merge target, deadline)
        return Done(command.line, False, refused.refusal.text(run.language))
    if outcome.steps:
        states = [outcome.steps[0].source, *(step.target for step in outcome.steps)]
        moved = " → ".join(state_text(run, state) for state in states)
        note = run.say(f"{moved}；{note}", f"{moved}; {note}") if note else moved
    return Done(command.line, True, note=note)


# -- the transcript -------------------------------------------------------------------------


def send_transcript(run: Run, done: list[Done], help_text: str) -> None:
    outbound_id = notify_staff(
        run.session,
        run.app,
        run.case,
        run.member,
        "staff_transcript",
        occasion=run.occasion,
        language=run.language,
        context={
            "results": [d.as_dict() for d in done],
            "auth_refused": "",
            "summary": staff_summary(run.session, run.app, run.case, run.language),
            "help_text": help_text,
        },
        in_reply_to=run.mail.message_id,
        references=_thread(run.mail),
    )
    if outbound_id is not None:
        run.outbound.append(outbound_id)
    record(
        run,
        "staff_commands",
        message_id=run.mail.message_id,
        language=run.language,
        commands=[d.as_dict() for d in done],
        state=run.case.status,
        transcript_outbound_id=outbound_id,
    )


def _thread(mail: ParsedMail) -> list[str]:
    return [*mail.references, *([mail.message_id] if mail.message_id else [])]


def refuse_mail(
    session: Session,
    app: App,
    case: Case,
    mail: ParsedMail,
    at: datetime,
    occasion: str,
    auth: StaffAuth,
    commands: CommandMail,
) -> list[int]:
    """Log a refused command mail; tell the staff member whose address it used, why."""
    lines = [c.line for c in commands.commands]
    session.add(
        Event(
            case_id=case.id,
            at=at,
            actor=mail.from_addr[:64],
            kind="staff_auth_refused",
            detail={
                "code": auth.code,
                "reason": auth.en,
                "reason_zh": auth.zh,
                "from": mail.from_addr,
                "message_id": mail.message_id,
                "commands": lines,
            },
        )
    )
    # An impostor's address is not ours to write to; an automatic mail is never answered.
    if auth.staff is None or auth.code == "auto_generated":
        return []
    language = staff_language(app, mail, commands)
    outbound_id = notify_staff(
        session,
        app,
        case,
        auth.staff,
        "staff_transcript",
        occasion=occasion,
        language=language,
        context={
            "results": [{"line": line} for line in lines],
            "auth_refused": auth.text(language),
            "summary": staff_summary(session, app, case, language),
            "help_text": "",
        },
        in_reply_to=mail.message_id,
        references=_thread(mail),
    )
    return [outbound_id] if outbound_id is not None else []
