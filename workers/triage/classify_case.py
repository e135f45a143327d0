"""Classify stage: give a new case its category and severity, with the reasons, on the case row.

Reads the complaint (subject and the complainant's first mail), runs `workers.triage.classify` with the
category model (and the severity model saved with it) when one has been trained, stores the
result and an Event `classified`, commits, then hands the case to routing
(`workers.triage.route_case.route_case`). Runs any number of times for
the same case: a value staff set (`category_set_by`, `severity_set_by`) is never overwritten, a
severity never goes down on a rerun, and a rerun that finds nothing new writes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import Session, col

from config.policy_classify import SEVERITIES
from models import Case, Event, Message
from models.db import session_scope
from models.types import utcnow
from workers import hops
from workers.app import App
from workers.batches import BatchStage
from workers.clock import deadlines
from workers.triage.classify import Classification, classify, decide_severity
from workers.triage.training_data import case_text, complaint_message, complaint_messages

if TYPE_CHECKING:  # scikit-learn loads only when a model file exists
    from workers.triage.model import CategoryModel

log = logging.getLogger(__name__)


class _ModelCache:
    """The category model, loaded once per process and again only when the file changes.

    `complaintdesk classify --retrain` replaces the file atomically; comparing its mtime and
    size on each case (one stat) lets running workers pick the new model up without a restart.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # a worker process runs several actor threads
        self._key: tuple[str, int, int] | None = None
        self._model: CategoryModel | None = None

    def get(self, path: Path) -> CategoryModel | None:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None  # nothing trained yet: the rules decide alone
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if key != self._key:
                self._model, self._key = _load(path), key
            return self._model


def _load(path: Path) -> CategoryModel | None:
    from workers.triage.model import CategoryModel, ModelFileError

    try:
        return CategoryModel.load(path)
    except ModelFileError as exc:
        # Logged once per file version (the cache remembers the failure too).
        log.warning("%s; classifying by rules only until `complaintdesk classify --retrain`", exc)
        return None


_models = _ModelCache()


def current_model(app: App) -> CategoryModel | None:
    """The model `complaintdesk classify --retrain` wrote (settings.model_path), if any."""
    return _models.get(app.settings.model_path)


def classification_record(result: Classification, model: CategoryModel | None) -> dict[str, Any]:
    """The JSON kept on the case: what staff are shown as the why of the category and severity."""
    severity = getattr(model, "severity", None)  # None too in a file saved before it existed
    return {
        "category": result.category,
        "severity": result.severity,
        "confidence": result.confidence,
        "reasons": result.reasons,
        "hits": [{**asdict(hit), "evidence": list(hit.evidence)} for hit in result.hits],
        "needs_review": result.needs_review,
        "model_examples": model.examples_count if model is not None else 0,
        "severity_model_examples": severity.examples_count if severity is not None else 0,
    }


def highest(*levels: str | None) -> str:
    """The highest of the severities given (None: not set)."""
    return max((level for level in levels if level), key=SEVERITIES.index)


def store(
    session: Session, app: App, case: Case, result: Classification, record: dict[str, Any]
) -> bool:
    """Write the result on the case, keeping what staff set; True when anything changed."""
    before = (case.category, case.severity, case.classification)
    if case.category_set_by is None:
        case.category = result.category
    severity: str = result.severity
    if case.category_set_by is not None:
        # Staff chose the category: its lowest severity counts, as the chosen category's would.
        candidates = () if case.category is None else (case.category,)
        severity = highest(severity, decide_severity(result.hits, candidates, app.policy)[0])
    if case.severity_set_by is None:
        # Errs upward: a rerun (a newer model, a longer text) never lowers a severity that
        # routing, leadership notices and deadlines may already have acted on.
        case.severity = highest(severity, case.severity)
    case.classification = record
    if (case.category, case.severity, case.classification) == before:
        return False
    case.updated_at = utcnow()
    session.add(case)
    session.add(
        Event(
            case_id=case.id,
            kind="classified",
            detail={
                "category": case.category,
                "severity": case.severity,
                "reasons": result.reasons,
                "needs_review": result.needs_review,
                "kept_staff_category": case.category_set_by is not None,
                "kept_staff_severity": case.severity_set_by is not None,
            },
        )
    )
    if case.severity != before[1]:
        session.flush()
        deadlines.on_severity_set(session, app, case, utcnow())
    return True


def classify_loaded(
    session: Session, app: App, case: Case, message: Message | None, model: CategoryModel | None
) -> None:
    """Classify the row-locked case from its complaint, inside the caller's transaction."""
    text = case_text(case.subject, message.body_text if message else "")
    # The root Policy carries every section that classify reads.
    result = classify(text, app.policy, model)
    store(session, app, case, result, classification_record(result, model))


def classify_stored(app: App, case_id: int, model: CategoryModel | None) -> bool:
    """Classify the case in the database; False when there is no such case."""
    with session_scope(app.db_url) as session:
        case = session.get(Case, case_id, with_for_update=True)
        if case is None:
            return False
        classify_loaded(session, app, case, complaint_message(session, case_id), model)
        return True


class ClassifyBatch(BatchStage[int]):
    """Classification as a batch stage (workers.batches): one commit, one lock statement and
    one query for the complaints instead of a transaction, a lock and a query per case. Cases
    that do not exist are passed over; the classified ones go on to routing."""

    what = "classifying case"
    alone_actor = "classify_case"

    def __init__(self, app: App, model: CategoryModel | None) -> None:
        super().__init__(app)
        self.model = model

    def load(self, session: Session, ids: Sequence[int]) -> Iterable[tuple[int, Any]]:
        cases = {
            case.id: case
            for case in session.execute(
                select(Case).where(col(Case.id).in_(ids)).order_by(col(Case.id)).with_for_update()
            ).scalars()
        }
        messages = complaint_messages(session, list(cases))
        return [
            (case_id, (cases[case_id], messages.get(case_id)))
            for case_id in dict.fromkeys(ids)
            if case_id in cases
        ]

    def work(self, session: Session, row: tuple[Case, Message | None]) -> int:
        case, message = row
        classify_loaded(session, self.app, case, message, self.model)
        assert case.id is not None
        return case.id

    def one(self, item_id: int) -> int | None:
        return item_id if classify_stored(self.app, item_id, self.model) else None

    def next_hop(self, results: list[int]) -> None:
        hops.to_route(results)
