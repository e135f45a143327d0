"""What to do with a complainant's mail on their case: the decision table, over plain data.

`workers.casework.complainant_mail` loads the facts, asks `plan_reaction`, and carries the
`Reaction` out. The rows, first match wins (then the last row below overrides):
  a review was decided          a rating is recorded; anything else gets "decision is final";
                                the case never reopens
  withdrawal before the result  withdrawn + withdrawal_confirmed
  answer to an extension request  "同意"/"agree" moves the decision deadline, "不同意" keeps it
  review request                more words while in review are filed; no result sent (or the
                                case is in no state a review opens from): staff are asked to
                                read it; within the window: review_requested + review_ack,
                                also when the case was closed meanwhile (staff closed early,
                                or the scheduler closed it before the mail was processed);
                                after it: review_window_closed
  a rating after the result     recorded
  anything while awaiting info  info_supplied: back to received, the clock runs on
  withdrawal after the result   staff are asked to read it; nothing changes
  anything else                 filed; the assigned staff member (or intake) is told
  unverified, and the row        a change to the case (rating, withdrawal, extension answer,
  would change the case          review) counts only from the complainant's signed reply
                                 address or a trusted authentication pass; otherwise nothing
                                 changes and they are asked, at their own address, to confirm
                                 by replying to that mail (which carries the signed address)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from workers.casework.intent import IntentKind
from workers.casework.transitions import State

_BEFORE_RESULT = frozenset({State.RECEIVED, State.AWAITING_INFO, State.ACCEPTED})
_IN_REVIEW = frozenset({State.REVIEW_REQUESTED, State.UNDER_REVIEW})
_REVIEWABLE = frozenset({State.RESOLVED, State.CLOSED})


class ReactionKind(StrEnum):
    DECISION_FINAL = "decision_final"  # answer that the review result is final
    RECORD_RATING = "record_rating"  # case.satisfaction, the call-back is done
    WITHDRAW = "withdraw"
    ANSWER_EXTENSION = "answer_extension"  # `agreed` says which way
    OPEN_REVIEW = "open_review"
    WINDOW_CLOSED = "window_closed"  # a review asked for too late
    REVIEW_NOT_POSSIBLE = "review_not_possible"  # no review opens from here: staff read it
    SUPPLY_INFORMATION = "supply_information"  # back to received
    WITHDRAWAL_NOT_POSSIBLE = "withdrawal_not_possible"  # the result is out: staff read it
    FILE_ONLY = "file_only"
    CONFIRM_FIRST = "confirm_first"  # unverified: ask the complainant to confirm; `wanted`


# Reactions that change the case: anyone can write the complainant's From and the (sequential)
# case number, so these need their signed reply address or a trusted authentication pass.
CHANGES_THE_CASE = frozenset(
    {
        ReactionKind.RECORD_RATING,
        ReactionKind.WITHDRAW,
        ReactionKind.ANSWER_EXTENSION,
        ReactionKind.OPEN_REVIEW,
    }
)


@dataclass(frozen=True)
class Reaction:
    kind: ReactionKind
    # The staff notice (a key of complainant_mail.NOTICES); "" when staff are not told, or
    # when how it goes decides (an agreed extension with no deadline left to move).
    notice: str = ""
    agreed: bool | None = None  # ANSWER_EXTENSION only
    wanted: ReactionKind | None = None  # CONFIRM_FIRST: what the mail asked for


def plan_reaction(
    state: State,
    intent: IntentKind,
    *,
    result_sent: bool,
    review_decided: bool,
    review_window_open: bool,
    extension_pending: bool,
    consent: bool | None,
    verified: bool,
) -> Reaction:
    """The reaction to one complainant mail.

    `verified`: the mail came to the complainant's signed reply address for this case, or a
    trusted Authentication-Results header vouches for its From domain.

    `review_window_open` is whether the mail arrived in time to ask for a review
    (`workers.casework.review_window`); `extension_pending` whether an extension request awaits
    their answer; `consent` how the new text reads as such an answer (True agree, False
    decline, None no answer)."""
    reaction = _plan(
        state,
        intent,
        result_sent=result_sent,
        review_decided=review_decided,
        review_window_open=review_window_open,
        extension_pending=extension_pending,
        consent=consent,
    )
    if not verified and reaction.kind in CHANGES_THE_CASE:
        return Reaction(ReactionKind.CONFIRM_FIRST, "confirm_asked", wanted=reaction.kind)
    return reaction


def _plan(
    state: State,
    intent: IntentKind,
    *,
    result_sent: bool,
    review_decided: bool,
    review_window_open: bool,
    extension_pending: bool,
    consent: bool | None,
) -> Reaction:
    if review_decided:
        if intent == IntentKind.SATISFACTION:
            return Reaction(ReactionKind.RECORD_RATING)
        return Reaction(ReactionKind.DECISION_FINAL)
    if intent == IntentKind.WITHDRAWAL and state in _BEFORE_RESULT:
        return Reaction(ReactionKind.WITHDRAW, "withdrawn")
    if extension_pending and consent is not None:
        return Reaction(ReactionKind.ANSWER_EXTENSION, agreed=consent)
    if intent == IntentKind.REVIEW_REQUEST:
        return _plan_review(state, result_sent=result_sent, window_open=review_window_open)
    if intent == IntentKind.SATISFACTION and result_sent:
        return Reaction(ReactionKind.RECORD_RATING)
    if state == State.AWAITING_INFO:
        return Reaction(ReactionKind.SUPPLY_INFORMATION, "info_supplied")
    if intent == IntentKind.WITHDRAWAL:
        return Reaction(ReactionKind.WITHDRAWAL_NOT_POSSIBLE, "withdrawal_not_possible")
    return Reaction(ReactionKind.FILE_ONLY, "info")


def _plan_review(state: State, *, result_sent: bool, window_open: bool) -> Reaction:
    """A review request: opened within the window, politely refused after it."""
    if state in _IN_REVIEW:  # more words for the review
        return Reaction(ReactionKind.FILE_ONLY, "info")
    if not result_sent or state not in _REVIEWABLE:
        return Reaction(ReactionKind.REVIEW_NOT_POSSIBLE, "review_not_possible")
    if not window_open:
        return Reaction(ReactionKind.WINDOW_CLOSED, "review_late")
    # Timely: a case closed in the window (staff closed early, or the scheduler closed it
    # before this mail was processed) goes into review too; the state machine allows that.
    notice = "review_after_close" if state == State.CLOSED else "review_requested"
    return Reaction(ReactionKind.OPEN_REVIEW, notice)
