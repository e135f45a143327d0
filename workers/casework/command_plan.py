"""Plan the commands of a staff mail over the case's state: what each does, or why not. Pure.

`plan` runs the parsed commands (`command_parse`) in order over the state machine, giving per
command whether it applied or why not; a refused command does not stop the ones after it. Next:
`staff_mail` applies the outcomes (records the steps, mails the complainant) and builds the
staff confirmation from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from workers.casework.command_parse import Command, spec_of
from workers.casework.transitions import (
    REFUSAL_MESSAGES,
    STATE_LABELS,
    Actor,
    Refusal,
    State,
    Step,
    TransitionRefused,
    Trigger,
    apply,
)

# States in which a decision deadline runs, so that an extension means something.
_EXTENDABLE = frozenset(
    {State.RECEIVED, State.ACCEPTED, State.REVIEW_REQUESTED, State.UNDER_REVIEW}
)
# Commands that write to the complainant without moving the case, as the refusals name them.
SENDS_TEXT: dict[str, tuple[str, str]] = {
    "reply": ("发送进展答复", "send a progress reply"),
    "need-info": ("要求补充材料", "ask for information"),
    "extend": ("延期", "extend the deadline"),
    "consent": ("记录同意延期", "record the consent to an extension"),
}
# A case in these states is finished for the complainant: mail from staff there would
# contradict what they were told (withdrawn, closed, final). A reopen comes first where allowed.
_FINISHED = frozenset({State.WITHDRAWN, State.CLOSED, State.NOT_ACCEPTED, State.REVIEW_RESOLVED})


@dataclass(frozen=True)
class Outcome:
    """What one command did, for the staff confirmation mail."""

    command: Command
    ok: bool
    state: State  # the case's state after this command
    steps: tuple[Step, ...] = ()
    refusal: Refusal | None = None


def command_trigger(command: Command) -> Trigger | None:
    """The state-machine trigger a command pulls; None for commands that only record or send."""
    spec = spec_of(command.name)
    return spec.trigger if spec and not command.error else None


def command_effect(command: Command, state: State, *, reviewed: bool = False) -> Outcome:
    """What `command` does to a case in `state`: the steps, or why it is refused."""
    if command.error:
        refusal = Refusal("invalid_command", command.error_zh or command.error, command.error)
        return Outcome(command, False, state, refusal=refusal)
    if command.name in SENDS_TEXT and state in _FINISHED:
        return Outcome(
            command, False, state, refusal=finished_refusal(command.name, state, reviewed=reviewed)
        )
    if command.name == "close" and state == State.CLOSED:
        # Records the call-back (回访) when one is owed; the handler checks the live case and
        # otherwise refuses as the state machine does.
        return Outcome(command, True, state)
    if command.name in ("extend", "consent") and state not in _EXTENDABLE:
        return Outcome(command, False, state, refusal=_nothing_to_extend(state))
    trigger = command_trigger(command)
    if trigger is None:
        return Outcome(command, True, state)
    try:
        steps = apply(state, trigger, Actor.STAFF, reviewed=reviewed)
    except TransitionRefused as refused:
        return Outcome(command, False, state, refusal=refused.refusal)
    return Outcome(command, True, steps[-1].target, steps=tuple(steps))


def finished_refusal(name: str, state: State, *, reviewed: bool = False) -> Refusal:
    """Why a text-sending command is refused on a finished case, with what staff can do."""
    if state == State.WITHDRAWN:
        code = "withdrawn"
    elif state == State.REVIEW_RESOLVED or (state == State.CLOSED and reviewed):
        code = "final_review"
    else:
        code = "ended"
    return _worded(code, name, state)


def merged_refusal(name: str, into: str) -> Refusal:
    what_zh, what_en = SENDS_TEXT.get(name, (f"#{name}", f"#{name}"))
    return Refusal(
        "merged",
        f"案件已并入 {into}，不能{what_zh}；请在 {into} 上处理。",
        f"The case was merged into {into}; cannot {what_en}. Work on {into} instead.",
    )


def _worded(code: str, name: str, state: State) -> Refusal:
    zh, en = REFUSAL_MESSAGES[code]
    what_zh, what_en = SENDS_TEXT[name]
    state_zh, state_en = STATE_LABELS[state]
    return Refusal(
        code, zh.format(trigger=what_zh, state=state_zh), en.format(trigger=what_en, state=state_en)
    )


def _nothing_to_extend(state: State) -> Refusal:
    return Refusal(
        "nothing_to_extend",
        f"当前状态（{state.value}）没有正在计时的办理期限，无需延期。",
        f"No handling deadline is running in state '{state.value}'; nothing to extend.",
    )


def plan(commands: Sequence[Command], state: State, *, reviewed: bool = False) -> list[Outcome]:
    """Each command's outcome in order, each starting from the state the previous one left."""
    outcomes = []
    for command in commands:
        outcome = command_effect(command, state, reviewed=reviewed)
        outcomes.append(outcome)
        state = outcome.state
        reviewed = reviewed or any(s.trigger == Trigger.REVIEW_RESULT for s in outcome.steps)
    return outcomes
