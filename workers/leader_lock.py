"""Leader locks: one poller per mailbox, one scheduler per deployment.

A Redis key with a TTL, renewed while the holder is alive; a holder that dies (SIGKILL, lost
machine) frees it when the TTL runs out. Without Redis (the demo's stub broker) there is one
process anyway and the lock is always granted.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import redis


class LeaderLock:
    def __init__(self, redis_url: str | None, name: str, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._lock: Any = None
        if redis_url and redis_url.startswith(("redis://", "rediss://", "unix://")):
            client = redis.Redis.from_url(redis_url)
            self._lock = client.lock(f"complaintdesk:lock:{name}", timeout=ttl, thread_local=False)
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self, wait: float = 0.0) -> bool:
        """Take the lock, waiting up to `wait` seconds; True when this process leads."""
        if self._lock is None:
            return True
        got = bool(self._lock.acquire(blocking=wait > 0, blocking_timeout=wait or None))
        if got:
            self._stop.clear()
            self._renewer = threading.Thread(target=self._renew, name="leader-lock", daemon=True)
            self._renewer.start()
        return got

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self._lock.reacquire()
            except redis.exceptions.RedisError:
                return  # lost it: `held()` tells the owner to stop leading

    def held(self) -> bool:
        if self._lock is None:
            return True
        try:
            return bool(self._lock.owned())
        except redis.exceptions.RedisError:
            return False

    def release(self) -> None:
        self._stop.set()
        if self._lock is not None:
            # Expired or taken over: nothing of ours to release.
            with contextlib.suppress(redis.exceptions.RedisError):
                self._lock.release()
