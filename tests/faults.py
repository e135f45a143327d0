"""Test-only fault injection: a mail that kills, or fails, the worker on it.

Load it into a real worker after the wiring — `dramatiq workers.worker tests.faults` — with
COMPLAINTDESK_TEST_CRASH_MARKER and/or COMPLAINTDESK_TEST_RAISE_MARKER in the worker's
environment. A mail whose bytes contain the crash marker SIGKILLs its worker process mid-ingest,
after its attempt is counted, as a segfaulting C extension or the OOM killer would; a mail
containing the raise marker makes ingest raise every time, as a bug that one mail trips would.
Production code knows nothing of it: the middleware wraps the parser that ingest calls.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

import dramatiq

from workers.mail.parse import ParsedMail

Parse = Callable[[bytes], ParsedMail]


def with_faults(
    parse: Parse, crash_marker: str | None = None, raise_marker: str | None = None
) -> Parse:
    """`parse`, but dying or raising on a mail that carries a marker."""

    def parse_with_faults(raw: bytes) -> ParsedMail:
        if crash_marker and crash_marker.encode() in raw:
            os.kill(os.getpid(), signal.SIGKILL)
        if raise_marker and raise_marker.encode() in raw:
            raise RuntimeError("test fault: COMPLAINTDESK_TEST_RAISE_MARKER in this mail")
        return parse(raw)

    return parse_with_faults


class MarkedMailFaults(dramatiq.Middleware):
    """In each worker process, ingest's parser with the environment's markers."""

    # after_worker_boot: Dramatiq loads the extra modules after it emits process_boot.
    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        from workers.intake import ingest

        ingest.parse_mail = with_faults(  # type: ignore[assignment]
            ingest.parse_mail,
            os.environ.get("COMPLAINTDESK_TEST_CRASH_MARKER"),
            os.environ.get("COMPLAINTDESK_TEST_RAISE_MARKER"),
        )


def _install() -> Any:
    broker = dramatiq.get_broker()
    if not any(isinstance(m, MarkedMailFaults) for m in broker.middleware):
        broker.add_middleware(MarkedMailFaults())
    return broker


if os.environ.get("COMPLAINTDESK_TEST_CRASH_MARKER") or os.environ.get(
    "COMPLAINTDESK_TEST_RAISE_MARKER"
):
    _install()
