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
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import func, select, text
from sqlmodel import Session, col

from config.policy_classify import severity_rank
from models import Case, Event, OutboxStatus
from models.db import session_scope
from models.types import utcnow
from workers import hops
from workers.app import App
from workers.batches import BatchStage
from workers.casework.transitions import TERMINAL_STATES
from workers.triage.route import RoutingDecision, as_severity, route
from workers.triage.staff_notice import (
    Complaint,
    complaints,
    queue_leadership_notice,
    queue_owner_notifications,
)

log = logging.getLogger(__name__)

ROUTER = "routing"  # Event.actor of the router's own decisions
# Any fixed 64-bit number: the PostgreSQL advisory lock that makes routing one at a time.
_ROUTING_LOCK = 0x63645F726F757465


def open_counts(session: Session) -> dict[str, int]:
    """Each staff member's cases that are not over (closed, withdrawn, not accepted)."""
    rows = session.execute(
        select(col(Case.assignee), func.count())
        .where(col(Case.assignee).is_not(None), col(Case.status).not_in(sorted(TERMINAL_STATES)))
        .group_by(col(Case.assignee))
    ).all()
    return {assignee: int(count) for assignee, count in rows}


def serialise_routing(session: Session) -> None:
    # Two workers routing two cases at once would both count the same open cases and pick
    # the same least-loaded member; the transaction lock makes the second wait for the first's
    # commit. SQLite writes one transaction at a time already.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ROUTING_LOCK})


def _decision_of(detail: dict) -> tuple[RoutingDecision, bool]:
    decision = RoutingDecision(
        detail["group"], detail["assignee"], detail["notify_leadership"], detail["reasons"]
    )
    return decision, not detail.get("kept_staff_assignment", False)


def earlier_decision(session: Session, case_id: int) -> tuple[RoutingDecision, bool] | None:
    """The decision routing recorded for the case, and whether it chose the owner."""
    detail = session.execute(
        select(col(Event.detail))
        .where(
            col(Event.case_id) == case_id, col(Event.kind) == "assigned", col(Event.actor) == ROUTER
        )
        .order_by(col(Event.id))
        .limit(1)
    ).scalar_one_or_none()
    return None if detail is None else _decision_of(detail)


def earlier_decisions(
    session: Session, case_ids: list[int]
) -> dict[int, tuple[RoutingDecision, bool]]:
    """`earlier_decision` of each of the cases that has one, in one query."""
    if not case_ids:
        return {}
    first = (
        select(func.min(Event.id))
        .where(
            col(Event.case_id).in_(case_ids),
            col(Event.kind) == "assigned",
            col(Event.actor) == ROUTER,
        )
        .group_by(col(Event.case_id))
    )
    rows = session.execute(
        select(col(Event.case_id), col(Event.detail)).where(col(Event.id).in_(first))
    )
    return {case_id: _decision_of(detail) for case_id, detail in rows}


def decide(
    session: Session,
    app: App,
    case: Case,
    earlier: tuple[RoutingDecision, bool] | None,
    counts: dict[str, int] | None = None,
) -> tuple[RoutingDecision, bool]:
    """(the routing of the case, whether routing chose its owner) — recorded once per case.

    `earlier`: what `earlier_decision` found for the case (a batch looks them all up at once);
    `counts`: the open counts, when a batch keeps them up to date itself."""
    if earlier is not None:
        return earlier
    if case.assigned_group or case.assignee:  # staff handed it on before routing ran
        group = case.assigned_group or app.policy.routing.intake_group
        decision = RoutingDecision(
            group, case.assignee, False, [f"kept: assigned by staff to {case.assignee or group}"]
        )
        chose = False
    else:
        decision = route(
            case.category or "other",
            case.severity or "general",
            app.policy,
            app.policy.staff,
            open_counts(session) if counts is None else counts,
        )
        case.assigned_group, case.assignee = decision.group, decision.assignee
        case.updated_at = utcnow()
        session.add(case)
        chose = True
    session.add(
        Event(
            case_id=case.id,
            actor=ROUTER,
            kind="assigned",
            detail={**asdict(decision), "kept_staff_assignment": not chose},
        )
    )
    return decision, chose


def unrouted_case_ids(session: Session, before: datetime, limit: int = 1000) -> list[int]:
    """Open cases created before `before` that routing never decided on: a worker died between
    ingest's commit and its enqueue, or the broker lost the message. The sweeper sends them to
    `classify_case` again, which reclassifies harmlessly and hands them on to routing."""
    routed = select(col(Event.id)).where(
        col(Event.case_id) == Case.id, col(Event.kind) == "assigned", col(Event.actor) == ROUTER
    )
    return list(
        session.execute(
            select(col(Case.id))
            .where(
                col(Case.created_at) < before,
                col(Case.status).not_in(sorted(TERMINAL_STATES)),
                ~routed.exists(),
            )
            .order_by(col(Case.id))
            .limit(limit)
        ).scalars()
    )


def leadership_due(app: App, case: Case) -> bool:
    # From the severity now, not the one routing first saw: a rerun of classification that
    # raised it to major still tells leadership (once: the notice is keyed per case).
    routing = app.policy.routing
    return case.severity is not None and (
        severity_rank(as_severity(case.severity)) >= severity_rank(routing.notify_leadership_at)
    )


def route_loaded(
    session: Session,
    app: App,
    case: Case,
    earlier: tuple[RoutingDecision, bool] | None,
    counts: dict[str, int] | None = None,
    complaint: Complaint | None = None,
) -> list[int]:
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
        return route_loaded(session, app, case, earlier_decision(session, case_id))


class RouteBatch(BatchStage[list[int]]):
    """Routing as a batch stage (workers.batches): one transaction under one routing lock;
    the results are the ids of outbox rows still to send.

    The open counts are read once and kept up to date here as cases get their owner (what
    reading them again for each case would return), and read again after a case rolls back.
    """

    what = "routing case"
    alone_actor = "route_case"

    def begin(self, session: Session, savepoints: bool) -> None:
        serialise_routing(session)
        self.counts: dict[str, int] | None = None

    def load(self, session: Session, ids: Sequence[int]) -> Iterable[tuple[int, Case]]:
        cases = {
            case.id: case
            for case in session.execute(
                select(Case).where(col(Case.id).in_(ids)).order_by(col(Case.id)).with_for_update()
            ).scalars()
        }
        self.earlier = earlier_decisions(session, list(cases))
        # The complaints quoted in the owners' notifications (cases routed before need none).
        self.complaints = complaints(session, [i for i in cases if i not in self.earlier])
        # Not classified yet: passed over, the classify stage enqueues them when they are.
        return [
            (case_id, cases[case_id])
            for case_id in dict.fromkeys(ids)
            if case_id in cases and cases[case_id].category is not None
        ]

    def work(self, session: Session, row: Case) -> list[int]:
        case, case_id = row, row.id
        assert case_id is not None  # loaded by `load`
        counts = self.counts if self.counts is not None else open_counts(session)
        self.counts = None  # until this case is through: a rollback may leave its owner counted
        # Whether routing, not staff or an earlier run, gives the case its owner now.
        fresh = case_id not in self.earlier and not (case.assigned_group or case.assignee)
        outbound_ids = route_loaded(
            session, self.app, case, self.earlier.get(case_id), counts, self.complaints.get(case_id)
        )
        if fresh and case.assignee is not None and case.status not in TERMINAL_STATES:
            counts[case.assignee] = counts.get(case.assignee, 0) + 1
        self.counts = counts
        return outbound_ids

    def one(self, item_id: int) -> list[int]:
        return route_stored(self.app, item_id)

    def next_hop(self, results: list[list[int]]) -> None:
        outbound_ids = [i for ids in results for i in ids]
        hops.to_sender(outbound_ids, len(outbound_ids))
