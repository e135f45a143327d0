"""Lifecycle in the database: a trigger moves the case, writes its dates and one event per step,
and starts or stops the legal clock; a refused trigger writes nothing; the scheduler's
transitions queue no mail of their own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from models import Case, Deadline, Event
from models.db import session_scope
from models.types import utcnow
from tests.unit.casemail import open_complaint
from workers.app import App
from workers.casework.lifecycle import apply_trigger, system_transition
from workers.casework.transitions import Actor, State, TransitionRefused, Trigger
from workers.clock.deadlines import on_complainant_notified


def _apply(app: App, number: str, trigger: Trigger, actor: Actor = Actor.STAFF, **kw):
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        return apply_trigger(
            s, app, case, trigger, actor, by=kw.pop("by", "zhao"), at=kw.pop("at", utcnow()), **kw
        )


def _case(app: App, number: str) -> tuple[Case, list[Event], list[Deadline]]:
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        events = list(
            s.execute(
                select(Event)
                .where(Event.case_id == case.id, Event.kind == "status_changed")
                .order_by(Event.id)
            ).scalars()
        )
        rows = list(
            s.execute(
                select(Deadline).where(Deadline.case_id == case.id).order_by(Deadline.id)
            ).scalars()
        )
        return case, events, rows


def test_resolve_from_received_records_both_steps_with_who_when_why(app: App) -> None:
    number = open_complaint(app)
    at = utcnow()
    steps = _apply(app, number, Trigger.RESOLVE, at=at, reason="refund agreed")
    assert [(s.source, s.target) for s in steps] == [
        (State.RECEIVED, State.ACCEPTED),
        (State.ACCEPTED, State.RESOLVED),
    ]
    case, events, deadlines = _case(app, number)
    assert case.status == "resolved" and case.result_sent_at == at and case.closed_at is None
    assert [(e.from_status, e.to_status, e.actor, e.detail["trigger"]) for e in events] == [
        ("received", "accepted", "zhao", "accept"),
        ("accepted", "resolved", "zhao", "resolve"),
    ]
    assert all(e.at == at and e.detail["reason"] == "refund agreed" for e in events)
    # The clock heard of it: the decision deadline was opened and met, the review window runs.
    kinds = {d.kind: d.state for d in deadlines}
    assert kinds["decision"] == "met" and kinds["review_window"] == "pending"


def test_refused_trigger_writes_nothing(app: App) -> None:
    number = open_complaint(app)
    with pytest.raises(TransitionRefused) as refused:
        _apply(app, number, Trigger.REVIEW_RESULT)
    assert refused.value.refusal.code == "no_review_requested"
    case, events, _ = _case(app, number)
    assert case.status == "received" and events == []


def test_complainant_cannot_pull_a_staff_trigger(app: App) -> None:
    number = open_complaint(app)
    with pytest.raises(TransitionRefused) as refused:
        _apply(app, number, Trigger.ACCEPT, Actor.COMPLAINANT, by="wang@example.net")
    assert refused.value.refusal.code == "actor_not_allowed"


def test_end_dates_and_reopen(app: App) -> None:
    number = open_complaint(app)
    at = utcnow()
    _apply(app, number, Trigger.REJECT, at=at, reason="no_facts")
    case, _, _ = _case(app, number)
    assert case.status == "not_accepted" and case.closed_at == at
    _apply(app, number, Trigger.REOPEN)
    case, events, _ = _case(app, number)
    assert case.status == "accepted" and case.closed_at is None
    assert events[0].detail["reason"] == "no_facts"


def test_review_result_is_final_even_after_closing(app: App) -> None:
    number = open_complaint(app)
    first = utcnow()
    _apply(app, number, Trigger.RESOLVE, at=first)
    _apply(
        app,
        number,
        Trigger.REQUEST_REVIEW,
        Actor.COMPLAINANT,
        by="wang@example.net",
        at=first + timedelta(days=1),
    )
    _apply(app, number, Trigger.REVIEW_ACCEPT, at=first + timedelta(days=2))
    _apply(app, number, Trigger.REVIEW_RESULT, at=first + timedelta(days=3))
    _apply(app, number, Trigger.CLOSE, at=first + timedelta(days=4))
    case, _, _ = _case(app, number)
    assert case.review_requested_at == first + timedelta(days=1)
    assert case.review_decided_at == first + timedelta(days=3)
    assert case.status == "closed"
    with pytest.raises(TransitionRefused) as refused:
        _apply(app, number, Trigger.REOPEN)
    assert refused.value.refusal.code == "final_review"


def test_system_close_after_the_review_window_queues_no_mail(app: App) -> None:
    number = open_complaint(app)
    _apply(app, number, Trigger.RESOLVE)
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        assert system_transition(s, app, case, Trigger.CLOSE, utcnow()) == []
    case, events, _ = _case(app, number)
    assert case.status == "closed" and case.closed_at is not None
    assert (events[-1].actor, events[-1].detail["actor_role"]) == ("system", "system")


def test_system_transition_refused_when_the_case_moved(app: App) -> None:
    number = open_complaint(app)
    _apply(app, number, Trigger.RESOLVE)
    _apply(app, number, Trigger.REQUEST_REVIEW, Actor.COMPLAINANT, by="wang@example.net")
    with session_scope(app.db_url) as s, pytest.raises(TransitionRefused):
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        system_transition(s, app, case, Trigger.CLOSE, utcnow())
    assert _case(app, number)[0].status == "review_requested"


def test_information_timeout_is_not_accepted(app: App) -> None:
    number = open_complaint(app)
    _apply(app, number, Trigger.NEED_INFO)
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        system_transition(s, app, case, Trigger.INFO_TIMEOUT, utcnow())
    case, events, _ = _case(app, number)
    assert case.status == "not_accepted" and events[-1].detail["trigger"] == "info_timeout"


def test_a_timely_review_request_reopens_a_closed_case_into_review(app: App) -> None:
    number = open_complaint(app)
    first = utcnow()
    _apply(app, number, Trigger.RESOLVE, at=first)
    _apply(app, number, Trigger.CLOSE, at=first + timedelta(hours=1))
    assert _case(app, number)[0].closed_at == first + timedelta(hours=1)
    _apply(
        app,
        number,
        Trigger.REQUEST_REVIEW,
        Actor.COMPLAINANT,
        by="wang@example.net",
        at=first + timedelta(hours=2),
        reason="不同意",
    )
    case, events, deadlines = _case(app, number)
    assert case.status == "review_requested" and case.closed_at is None
    assert case.review_requested_at == first + timedelta(hours=2)
    assert (events[-1].from_status, events[-1].to_status, events[-1].actor) == (
        "closed",
        "review_requested",
        "wang@example.net",
    )
    kinds = {d.kind: d.state for d in deadlines}
    # The call-back that closing owed waits for the review's own; the review is acknowledged.
    assert kinds["callback"] == "cancelled" and kinds["review_ack"] == "pending"


def test_the_decision_opens_the_result_notice_and_the_result_mail_meets_it(app: App) -> None:
    number = open_complaint(app)
    at = utcnow()
    _apply(app, number, Trigger.RESOLVE, at=at)
    notice = next(d for d in _case(app, number)[2] if d.kind == "result_notice")
    assert notice.state == "pending"
    assert notice.due_at == app.calendar.add_working_days(at, 3)
    with session_scope(app.db_url) as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        on_complainant_notified(s, app, case, "result", at)
    notice = next(d for d in _case(app, number)[2] if d.kind == "result_notice")
    assert (notice.state, notice.started_at, notice.closed_at) == ("met", at, at)
