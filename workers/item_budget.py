"""A time budget for one item of a batch: the item that runs past it is interrupted alone.

Dramatiq's time limit is per message: it stops a whole batch, and a `TimeLimitExceeded` is a
BaseException that no per-item savepoint catches, so one slow mail failed every mail of its
batch. `item_budget` arms a deadline for the calling thread; a watchdog thread (one per
process, like Dramatiq's TimeLimit) raises `ItemTimeExceeded` in that thread when it passes.
As with Dramatiq's, the exception arrives between Python bytecodes: it cannot stop one long
C call (a regex), which is why every text heuristic is also linear and bounded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from dramatiq.middleware import Interrupt
from dramatiq.middleware.threading import raise_thread_exception


class ItemTimeExceeded(Interrupt):
    """One item of a batch ran past its time budget (an Interrupt, like TimeLimitExceeded:
    code that catches Exception must not swallow it)."""


class _Watchdog:
    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.deadlines: dict[int, float] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def arm(self, thread_id: int, seconds: float) -> None:
        with self.lock:
            self.deadlines[thread_id] = time.monotonic() + seconds
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="item-budget", daemon=True)
                self.thread.start()

    def disarm(self, thread_id: int) -> None:
        with self.lock:  # the watchdog raises under this lock: never after the item ended
            self.deadlines.pop(thread_id, None)

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            now = time.monotonic()
            with self.lock:
                for thread_id, deadline in list(self.deadlines.items()):
                    if now >= deadline:
                        del self.deadlines[thread_id]
                        raise_thread_exception(thread_id, ItemTimeExceeded)


_WATCHDOG = _Watchdog()


@contextmanager
def item_budget(seconds: float) -> Iterator[None]:
    """Raise ItemTimeExceeded in this thread if the block runs longer than `seconds`."""
    thread_id = threading.get_ident()
    _WATCHDOG.arm(thread_id, seconds)
    try:
        yield
    finally:
        _WATCHDOG.disarm(thread_id)
