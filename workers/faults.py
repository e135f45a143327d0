"""Fault injection that only tests switch on: a mail that kills, or fails, the worker on it.

Set COMPLAINTDESK_TEST_CRASH_MARKER in a worker's environment; a mail whose bytes contain the
marker SIGKILLs that worker mid-ingest, as a segfaulting C extension or the OOM killer would.
Set COMPLAINTDESK_TEST_RAISE_MARKER; a mail whose bytes contain it makes ingest raise every
time, as a bug that one mail trips would. Unset (always, in production) each costs one
dictionary lookup.
"""

from __future__ import annotations

import os
import signal


def _marked(variable: str, raw: bytes) -> bool:
    marker = os.environ.get(variable)
    return bool(marker) and marker.encode() in raw


def crash_if_marked(raw: bytes) -> None:
    if _marked("COMPLAINTDESK_TEST_CRASH_MARKER", raw):
        os.kill(os.getpid(), signal.SIGKILL)


def raise_if_marked(raw: bytes) -> None:
    if _marked("COMPLAINTDESK_TEST_RAISE_MARKER", raw):
        raise RuntimeError("test fault: COMPLAINTDESK_TEST_RAISE_MARKER in this mail")
