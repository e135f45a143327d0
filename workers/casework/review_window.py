"""The review window: until when a complainant may ask for a review of a result.

Shared by `workers.casework.staff_actions` (the date the result and closing mails promise) and
`workers.casework.complainant_mail` (whether a review request is timely), so neither imports
the other.
"""

from __future__ import annotations

from datetime import datetime

from models import Case
from workers.app import App
from workers.casework.transitions import State


def review_deadline(app: App, result_sent_at: datetime) -> datetime:
    """The last moment the complainant may ask for a review of a result sent then."""
    return app.calendar.add_working_days(result_sent_at, app.policy.sla.review_window_working_days)


def review_window_open(app: App, case: Case, at: datetime) -> bool:
    """Whether a mail received `at` may still ask for a review of the case's result: the result
    was sent, no review was decided, and the window had not ended (closed cases included)."""
    sent = case.result_sent_at
    if sent is None or case.review_decided_at is not None:
        return False
    if State(case.status) not in (State.RESOLVED, State.CLOSED):
        return False
    return at <= review_deadline(app, sent)
