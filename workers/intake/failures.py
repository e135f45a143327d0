"""Middleware: record why a one-mail ingest failed on its raw row, and quarantine the mail
once its attempts are spent (workers.intake.ingest.record_failure), for every way an actor
can fail — an exception, or a time limit (a BaseException) — before Dramatiq retries it."""

from __future__ import annotations

import logging
from typing import Any

import dramatiq

from workers.app import current_app
from workers.intake.ingest import record_failure

log = logging.getLogger(__name__)


class RecordIngestFailure(dramatiq.Middleware):
    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None or message.actor_name != "ingest_message":
            return
        raw_id = message.args[0]
        log.error("ingest of raw message %s failed", raw_id, exc_info=exception)
        try:
            record_failure(current_app(), raw_id, exception)
        except Exception:
            log.exception("could not record the failure of raw message %s", raw_id)
