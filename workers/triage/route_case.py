"""Route stage: give a classified case its group and owner, and tell the people concerned.

Counts each staff member's open cases, asks `workers.triage.route` for the group, the least-loaded
on-duty member and whether leadership must know, stores that with an Event `assigned` (the
reasons staff read), queues the owner's notification (`workers.triage.staff_notice`; the group's, or intake's,
when nobody could be assigned) and, for a major case, the leadership notice; commits, then
enqueues the sender for each mail. Runs any number of times for the same case: the first
decision is kept (a rerun must not move the case to whoever is least loaded now), an owner staff
chose before routing ran is kept, and every mail is keyed per (case, kind, staff member).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime

import dramatiq
from sqlalchemy import func, select, text
from sqlmodel import Session

from config.policy_classify import severity_rank
from models import Case, Event, OutboxStatus
from models.db import each_item, session_scope, together_then_apart
from models.types import utcnow
from workers.app import App, get_app
from workers.broker import each_or_alone, ensure_broker
from workers.triage.staff_notice import (
    Complaint,
    complaints,
    queue_leadership_notice,
    queue_owner_notifications,
)
from workers.triage.route import RoutingDecision, route
from workers.casework.transitions import TERMINAL_STATES

ensure_broker()
log = logging.getLogger(__name__)

ROUTER = "routing"  # Event.actor of the router's own decisions
# Any fixed 64-bit number: the PostgreSQL advisory lock that makes routing one at a time.
_ROUTING_LOCK = 0x63645F726F757465


def open_counts(session: Session) -> dict[str, int]:
    """Each staff member's cases that are not over (closed, withdrawn, not accepted)."""
    rows = session.execute(
        select(Case.assignee, func.count()).where(
            Case.assignee.is_not(None), Case.status.not_in(sorted(TERMINAL_STATES)))
        .group_by(Case.assignee)).all()
    return {assignee: int(count) for assignee, count in rows}


def serialise_routing(session: Session) -> None:
    # Two workers routing two cases at once would both count the same open cases and pick
    # the same least-loaded member; the transaction lock makes the second wait for the first's
    # commit. SQLite writes one transaction at a time already.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ROUTING_LOCK})


def _decision_of(detail: dict) -> tuple[RoutingDecision, bool]:
    decision = RoutingDecision(detail["group"], detail["assignee"], detail["notify_leadership"],
                               detail["reasons"])
    return decision, not detail.get("kept_staff_assignment", False)


def earlier_decision(session: Session, case_id: int) -> tuple[RoutingDecision, bool] | None:
    """The decision routing recorded for the case, and whether it chose the owner."""
    detail = session.execute(
        select(Event.detail).where(Event.case_id == case_id, Event.kind == "assigned",
                                   Event.actor == ROUTER)
        .order_by(Event.id).limit(1)).scalar_one_or_none()
    return None if detail is None else _decision_of(detail)


def earlier_decisions(session: Session,
                      case_ids: list[int]) -> dict[int, tuple[RoutingDecision, bool]]:
    """`earlier_decision` of each of the cases that has one, in one query."""
    if not case_ids:
        return {}
    first = (select(func.min(Event.id))
             .where(Event.case_id.in_(case_ids), Event.kind == "assigned", Event.actor == ROUTER)
             .group_by(Event.case_id))
    rows = session.execute(select(Event.case_id, Event.detail).where(Event.id.in_(first)))
    return {case_id: _decision_of(detail) for case_id, detail in rows}


def decide(session: Session, app: App, case: Case,
           earlier: tuple[RoutingDecision, bool] | None,
           counts: dict[str, int] | None = None) -> tuple[RoutingDecision, bool]:
    """(the routing of the case, whether routing chose its owner) — recorded once per case.

    `earlier`: what `earlier_decision` found for the case (a batch looks them all up at once);
    `counts`: the open counts, when a batch keeps them up to date itself."""
    if earlier is not None:
        return earlier
    if case.assigned_group or case.assignee:  # staff handed it on before routing ran
        group = case.assigned_group or app.policy.routing.intake_group
        decision = RoutingDecision(group, case.assignee, False,
                                   [f"kept: assigned by staff to {case.assignee or group}"])
        chose = False
    else:
        decision = route(case.category or "other", case.severity or "general", app.policy,
                         app.policy.staff, open_counts(session) if counts is None else counts)
        case.assigned_group, case.assignee = decision.group, decision.assignee
        case.updated_at = utcnow()
        session.add(case)
        chose = True
    session.add(Event(case_id=case.id, actor=ROUTER, kind="assigned",
                      detail={**asdict(decision), "kept_staff_assignment": not chose}))
    return decision, chose


def unrouted_case_ids(session: Session, before: datetime, limit: int = 1000) -> list[int]:
    """Open cases created before `before` that routing never decided on: a worker died between
    ingest's commit and its enqueue, or the broker lost the message. The sweeper sends them to
    `classify_case` again, which reclassifies harmlessly and hands them on to routing."""
    routed = select(Event.id).where(Event.case_id == Case.id, Event.kind == "assigned",
                                    Event.actor == ROUTER)
    return list(session.execute(
        select(Case.id).where(Case.created_at < before,
                              Case.status.not_in(sorted(TERMINAL_STATES)), ~routed.exists())
        .order_by(Case.id).limit(limit)).scalars())


def leadership_due(app: App, case: Case) -> bool:
    # From the severity now, not the one routing first saw: a rerun of classification that
    # raised it to major still tells leadership (once: the notice is keyed per case).
    routing = app.policy.routing
    return case.severity is not None and (
        severity_rank(case.severity) >= severity_rank(routing.notify_leadership_at))


def route_loaded(session: Session, app: App, case: Case,
                 earlier: tuple[RoutingDecision, bool] | None,
                 counts: dict[str, int] | None = None,
                 complaint: Complaint | None = None) -> list[int]:
    """Route the row-locked, classified case inside the caller's transaction (which holds the
    routing lock); the ids of outbox rows still to send."""
    decision, chose = decide(session, app, case, earlier, counts)
    rows = queue_owner_notifications(session, app, case, decision, complaint) if chose else []
    if leadership_due(app, case):
        reasons = [*(case.classification or {}).get("reasons", []), *decision.reasons]
        rows += queue_leadership_notice(session, app, case, reasons)
    session.flush()
    return [row.id for row in rows if row.status == OutboxStatus.QUEUED and row.id is not None]


def route_stored(app: App, case_id: int) -> list[int]:
    """Route the case in the database; the ids of outbox rows still to send."""
    with session_scope(app.db_url) as session:
        serialise_routing(session)
        case = session.get(Case, case_id, with_for_update=True)
        if case is None or case.category is None:
            return []  # not classified yet: the classify stage enqueues us when it is
        return route_loaded(session, app, case, earlier_decision(session, case.id))


def route_many(app: App, case_ids: list[int]) -> tuple[list[int], list[int]]:
    """Route a batch in one transaction under one routing lock; returns (the ids of outbox
    rows still to send, the cases that raised, for the one-at-a-time way). When a case
    raises, the batch runs again with a savepoint per case (together_then_apart).

    The open counts are read once and kept up to date here as cases get their owner (what
    reading them again for each case would return), and read again after a case rolls back.
    """

    def run(savepoints: bool) -> tuple[list[int], list[int]]:
        outbound_ids: list[int] = []
        failed: list[int] = []
        with session_scope(app.db_url) as session:
            serialise_routing(session)
            cases = {case.id: case for case in session.execute(
                select(Case).where(Case.id.in_(case_ids)).order_by(Case.id)
                .with_for_update()).scalars()}
            earlier = earlier_decisions(session, list(cases))
            # The complaints quoted in the owners' notifications (cases routed before need none).
            loaded = complaints(session, [i for i in cases if i not in earlier])
            counts: dict[str, int] | None = None
            for case_id in dict.fromkeys(case_ids):
                case = cases.get(case_id)
                if case is None or case.category is None:
                    continue  # not classified yet: the classify stage enqueues us when it is
                if counts is None:
                    counts = open_counts(session)
                # Whether routing, not staff or an earlier run, gives the case its owner now.
                fresh = case_id not in earlier and not (case.assigned_group or case.assignee)
                with each_item(session, savepoints) as item:
                    outbound_ids += route_loaded(session, app, case, earlier.get(case_id),
                                                 counts, loaded.get(case_id))
                if item.error is not None:  # this case only; its neighbours go on
                    log.warning("routing case %s: %s; retried on its own", case_id, item.error)
                    failed.append(case_id)
                    counts = None  # the counts may include its rolled-back owner
                    continue
                if fresh and case.assignee is not None and case.status not in TERMINAL_STATES:
                    counts[case.assignee] = counts.get(case.assignee, 0) + 1
        return outbound_ids, failed

    return together_then_apart(run, "route batch")


@dramatiq.actor(queue_name="triage", max_retries=5, min_backoff=500, max_backoff=30_000,
                time_limit=60_000)
def route_case(case_id: int) -> None:
    from workers.outbound.sender import send_outbound

    for outbound_id in route_stored(get_app(), case_id):
        send_outbound.send(outbound_id)


@dramatiq.actor(queue_name="triage", max_retries=3, min_backoff=500, max_backoff=30_000,
                time_limit=300_000)
def route_batch(case_ids: list[int]) -> None:
    """Cases classified together; a case that fails goes on alone (route_case)."""
    from workers.outbound.sender import send_outbound_batch

    app = get_app()
    if not app.db_url.startswith("postgresql"):  # SQLite: no savepoints to lean on
        done = each_or_alone(case_ids, lambda case_id: route_stored(app, case_id), route_case,
                             500, "routing case")
        outbound_ids = [i for _, ids in done for i in ids]
    else:
        outbound_ids, failed = route_many(app, case_ids)
        for case_id in failed:
            route_case.send_with_options(args=(case_id,), delay=500)
    if outbound_ids:
        send_outbound_batch.send(outbound_ids)
