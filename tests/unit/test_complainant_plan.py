"""The decision table of workers.casework.complainant_plan, row by row, without a database."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from workers.casework.complainant_plan import Reaction, ReactionKind, plan_reaction
from workers.casework.intent import IntentKind
from workers.casework.transitions import State

S, IK, K = State, IntentKind, ReactionKind


@dataclass(frozen=True)
class Facts:
    """What the planner is told; the defaults are a plain mail on a fresh case."""

    result_sent: bool = False
    review_decided: bool = False
    window_open: bool = False
    pending: bool = False
    consent: bool | None = None
    verified: bool = True  # the signed reply address, or a trusted authentication pass


FRESH = Facts()
SENT_OPEN = Facts(result_sent=True, window_open=True)
SENT_LATE = Facts(result_sent=True)
DECIDED = Facts(result_sent=True, review_decided=True)
PENDING_AGREE = Facts(pending=True, consent=True)
PENDING_DECLINE = Facts(pending=True, consent=False)
PENDING_NO_ANSWER = Facts(pending=True)
ANSWER_NOT_ASKED = Facts(consent=True)

ROWS: list[tuple[str, State, IntentKind, Facts, Reaction]] = [
    # After the review result: final, a rating is still recorded.
    ("final rating", S.REVIEW_RESOLVED, IK.SATISFACTION, DECIDED, Reaction(K.RECORD_RATING)),
    (
        "final review request",
        S.REVIEW_RESOLVED,
        IK.REVIEW_REQUEST,
        DECIDED,
        Reaction(K.DECISION_FINAL),
    ),
    ("final withdrawal", S.REVIEW_RESOLVED, IK.WITHDRAWAL, DECIDED, Reaction(K.DECISION_FINAL)),
    ("final info", S.REVIEW_RESOLVED, IK.INFO, DECIDED, Reaction(K.DECISION_FINAL)),
    ("final, closed", S.CLOSED, IK.INFO, DECIDED, Reaction(K.DECISION_FINAL)),
    (
        "final beats an extension answer",
        S.REVIEW_RESOLVED,
        IK.INFO,
        Facts(review_decided=True, pending=True, consent=True),
        Reaction(K.DECISION_FINAL),
    ),
    (
        "final beats an open window",
        S.CLOSED,
        IK.REVIEW_REQUEST,
        Facts(result_sent=True, review_decided=True, window_open=True),
        Reaction(K.DECISION_FINAL),
    ),
    # Withdrawal before the result.
    ("withdraw received", S.RECEIVED, IK.WITHDRAWAL, FRESH, Reaction(K.WITHDRAW, "withdrawn")),
    (
        "withdraw awaiting info",
        S.AWAITING_INFO,
        IK.WITHDRAWAL,
        FRESH,
        Reaction(K.WITHDRAW, "withdrawn"),
    ),
    ("withdraw accepted", S.ACCEPTED, IK.WITHDRAWAL, FRESH, Reaction(K.WITHDRAW, "withdrawn")),
    (
        "withdrawal beats an extension answer",
        S.ACCEPTED,
        IK.WITHDRAWAL,
        PENDING_AGREE,
        Reaction(K.WITHDRAW, "withdrawn"),
    ),
    # Withdrawal after the result: staff read it, nothing changes.
    (
        "withdraw resolved",
        S.RESOLVED,
        IK.WITHDRAWAL,
        SENT_OPEN,
        Reaction(K.WITHDRAWAL_NOT_POSSIBLE, "withdrawal_not_possible"),
    ),
    (
        "withdraw closed",
        S.CLOSED,
        IK.WITHDRAWAL,
        SENT_LATE,
        Reaction(K.WITHDRAWAL_NOT_POSSIBLE, "withdrawal_not_possible"),
    ),
    (
        "withdraw not accepted",
        S.NOT_ACCEPTED,
        IK.WITHDRAWAL,
        FRESH,
        Reaction(K.WITHDRAWAL_NOT_POSSIBLE, "withdrawal_not_possible"),
    ),
    (
        "withdraw in review",
        S.UNDER_REVIEW,
        IK.WITHDRAWAL,
        Facts(result_sent=True),
        Reaction(K.WITHDRAWAL_NOT_POSSIBLE, "withdrawal_not_possible"),
    ),
    # The answer to a pending extension request.
    (
        "extension agreed",
        S.ACCEPTED,
        IK.INFO,
        PENDING_AGREE,
        Reaction(K.ANSWER_EXTENSION, agreed=True),
    ),
    (
        "extension declined",
        S.ACCEPTED,
        IK.INFO,
        PENDING_DECLINE,
        Reaction(K.ANSWER_EXTENSION, agreed=False),
    ),
    (
        "extension agreed while received",
        S.RECEIVED,
        IK.INFO,
        PENDING_AGREE,
        Reaction(K.ANSWER_EXTENSION, agreed=True),
    ),
    (
        "extension answer beats a review request",
        S.ACCEPTED,
        IK.REVIEW_REQUEST,
        PENDING_DECLINE,
        Reaction(K.ANSWER_EXTENSION, agreed=False),
    ),
    (
        "extension answer beats a rating",
        S.ACCEPTED,
        IK.SATISFACTION,
        PENDING_AGREE,
        Reaction(K.ANSWER_EXTENSION, agreed=True),
    ),
    (
        "pending, but no answer: filed",
        S.ACCEPTED,
        IK.INFO,
        PENDING_NO_ANSWER,
        Reaction(K.FILE_ONLY, "info"),
    ),
    (
        "an answer nobody asked for: filed",
        S.ACCEPTED,
        IK.INFO,
        ANSWER_NOT_ASKED,
        Reaction(K.FILE_ONLY, "info"),
    ),
    (
        "pending, no answer, review asked",
        S.ACCEPTED,
        IK.REVIEW_REQUEST,
        PENDING_NO_ANSWER,
        Reaction(K.REVIEW_NOT_POSSIBLE, "review_not_possible"),
    ),
    # Review requests.
    (
        "review in the window",
        S.RESOLVED,
        IK.REVIEW_REQUEST,
        SENT_OPEN,
        Reaction(K.OPEN_REVIEW, "review_requested"),
    ),
    (
        "review in the window, case closed",
        S.CLOSED,
        IK.REVIEW_REQUEST,
        SENT_OPEN,
        Reaction(K.OPEN_REVIEW, "review_after_close"),
    ),
    (
        "review after the window",
        S.RESOLVED,
        IK.REVIEW_REQUEST,
        SENT_LATE,
        Reaction(K.WINDOW_CLOSED, "review_late"),
    ),
    (
        "review after the window, case closed",
        S.CLOSED,
        IK.REVIEW_REQUEST,
        SENT_LATE,
        Reaction(K.WINDOW_CLOSED, "review_late"),
    ),
    (
        "more words while review requested",
        S.REVIEW_REQUESTED,
        IK.REVIEW_REQUEST,
        Facts(result_sent=True),
        Reaction(K.FILE_ONLY, "info"),
    ),
    (
        "more words under review",
        S.UNDER_REVIEW,
        IK.REVIEW_REQUEST,
        Facts(result_sent=True),
        Reaction(K.FILE_ONLY, "info"),
    ),
    (
        "review before any result",
        S.ACCEPTED,
        IK.REVIEW_REQUEST,
        FRESH,
        Reaction(K.REVIEW_NOT_POSSIBLE, "review_not_possible"),
    ),
    (
        "review while received",
        S.RECEIVED,
        IK.REVIEW_REQUEST,
        FRESH,
        Reaction(K.REVIEW_NOT_POSSIBLE, "review_not_possible"),
    ),
    (
        "review while awaiting info",
        S.AWAITING_INFO,
        IK.REVIEW_REQUEST,
        FRESH,
        Reaction(K.REVIEW_NOT_POSSIBLE, "review_not_possible"),
    ),
    (
        "review of a rejection",
        S.NOT_ACCEPTED,
        IK.REVIEW_REQUEST,
        FRESH,
        Reaction(K.REVIEW_NOT_POSSIBLE, "review_not_possible"),
    ),
    (
        "review of a withdrawn case",
        S.WITHDRAWN,
        IK.REVIEW_REQUEST,
        FRESH,
        Reaction(K.REVIEW_NOT_POSSIBLE, "review_not_possible"),
    ),
    (
        "review of a case closed without a result",
        S.CLOSED,
        IK.REVIEW_REQUEST,
        FRESH,
        Reaction(K.REVIEW_NOT_POSSIBLE, "review_not_possible"),
    ),
    # Ratings after the result.
    ("rating resolved", S.RESOLVED, IK.SATISFACTION, SENT_OPEN, Reaction(K.RECORD_RATING)),
    (
        "rating closed after the window",
        S.CLOSED,
        IK.SATISFACTION,
        SENT_LATE,
        Reaction(K.RECORD_RATING),
    ),
    (
        "rating under review",
        S.UNDER_REVIEW,
        IK.SATISFACTION,
        Facts(result_sent=True),
        Reaction(K.RECORD_RATING),
    ),
    (
        "rating before a result: filed",
        S.ACCEPTED,
        IK.SATISFACTION,
        FRESH,
        Reaction(K.FILE_ONLY, "info"),
    ),
    # Anything while awaiting information supplies it.
    (
        "info supplied",
        S.AWAITING_INFO,
        IK.INFO,
        FRESH,
        Reaction(K.SUPPLY_INFORMATION, "info_supplied"),
    ),
    (
        "rating before a result supplies info",
        S.AWAITING_INFO,
        IK.SATISFACTION,
        FRESH,
        Reaction(K.SUPPLY_INFORMATION, "info_supplied"),
    ),
    # Anything else is filed and staff told.
    ("info received", S.RECEIVED, IK.INFO, FRESH, Reaction(K.FILE_ONLY, "info")),
    ("info accepted", S.ACCEPTED, IK.INFO, FRESH, Reaction(K.FILE_ONLY, "info")),
    ("info resolved", S.RESOLVED, IK.INFO, SENT_OPEN, Reaction(K.FILE_ONLY, "info")),
    ("info closed", S.CLOSED, IK.INFO, SENT_LATE, Reaction(K.FILE_ONLY, "info")),
    (
        "info under review",
        S.UNDER_REVIEW,
        IK.INFO,
        Facts(result_sent=True),
        Reaction(K.FILE_ONLY, "info"),
    ),
    ("info withdrawn", S.WITHDRAWN, IK.INFO, FRESH, Reaction(K.FILE_ONLY, "info")),
    # Issue 11 item 10: without the signed address (or a trusted pass) nothing changes; the
    # complainant is asked to confirm. What changes nothing is planned as before.
    *[
        (
            f"unverified {name}",
            state,
            intent,
            replace(facts, verified=False),
            Reaction(K.CONFIRM_FIRST, "confirm_asked", wanted=wanted),
        )
        for name, state, intent, facts, wanted in (
            ("withdrawal", S.ACCEPTED, IK.WITHDRAWAL, FRESH, K.WITHDRAW),
            ("rating", S.RESOLVED, IK.SATISFACTION, SENT_OPEN, K.RECORD_RATING),
            ("final rating", S.REVIEW_RESOLVED, IK.SATISFACTION, DECIDED, K.RECORD_RATING),
            ("extension answer", S.ACCEPTED, IK.INFO, PENDING_DECLINE, K.ANSWER_EXTENSION),
            ("review", S.RESOLVED, IK.REVIEW_REQUEST, SENT_OPEN, K.OPEN_REVIEW),
            ("review on closed", S.CLOSED, IK.REVIEW_REQUEST, SENT_OPEN, K.OPEN_REVIEW),
        )
    ],
    *[
        (f"unverified {name}", state, intent, replace(facts, verified=False), expected)
        for name, state, intent, facts, expected in (
            ("info", S.ACCEPTED, IK.INFO, FRESH, Reaction(K.FILE_ONLY, "info")),
            (
                "late review",
                S.RESOLVED,
                IK.REVIEW_REQUEST,
                SENT_LATE,
                Reaction(K.WINDOW_CLOSED, "review_late"),
            ),
            (
                "info supplied",
                S.AWAITING_INFO,
                IK.INFO,
                FRESH,
                Reaction(K.SUPPLY_INFORMATION, "info_supplied"),
            ),
        )
    ],  # fmt: skip
]


@pytest.mark.parametrize(
    ("state", "intent", "facts", "expected"),
    [row[1:] for row in ROWS],
    ids=[row[0] for row in ROWS],
)
def test_plan_reaction(state: State, intent: IntentKind, facts: Facts, expected: Reaction) -> None:
    assert (
        plan_reaction(
            state,
            intent,
            result_sent=facts.result_sent,
            review_decided=facts.review_decided,
            review_window_open=facts.window_open,
            extension_pending=facts.pending,
            consent=facts.consent,
            verified=facts.verified,
        )
        == expected
    )


def test_every_reaction_has_a_row() -> None:
    assert {row[4].kind for row in ROWS} == set(ReactionKind)


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("intent", list(IntentKind))
def test_after_the_review_result_nothing_reopens(state: State, intent: IntentKind) -> None:
    """Whatever the rest says, a decided review only ever records a rating or says it is final."""
    for facts in (
        DECIDED,
        Facts(result_sent=True, review_decided=True, window_open=True, pending=True, consent=False),
    ):
        reaction = plan_reaction(
            state,
            intent,
            result_sent=facts.result_sent,
            review_decided=True,
            review_window_open=facts.window_open,
            extension_pending=facts.pending,
            consent=facts.consent,
            verified=True,
        )
        expected = K.RECORD_RATING if intent == IK.SATISFACTION else K.DECISION_FINAL
        assert reaction == Reaction(expected)
