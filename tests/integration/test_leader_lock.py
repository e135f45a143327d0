"""Leader lock on a real redis-server: one holder at a time; a dead holder frees it by TTL."""

from __future__ import annotations

import time

from workers.leader_lock import LeaderLock


def test_only_one_holder_and_release_hands_over(redis_url: str) -> None:
    first, second = LeaderLock(redis_url, "t"), LeaderLock(redis_url, "t")
    assert first.acquire() and first.held()
    assert not second.acquire(wait=0.2)
    first.release()
    assert second.acquire(wait=1.0) and second.held()
    second.release()


def test_a_holder_that_stops_renewing_loses_the_lock_after_its_ttl(redis_url: str) -> None:
    dead = LeaderLock(redis_url, "ttl", ttl=1.0)
    assert dead.acquire()
    dead._stop.set()  # what a SIGKILLed process looks like: no more renewals
    time.sleep(0.1)
    heir = LeaderLock(redis_url, "ttl", ttl=1.0)
    assert heir.acquire(wait=3.0)
    assert not dead.held()
    heir.release()


def test_renewal_keeps_the_lock_past_its_ttl(redis_url: str) -> None:
    holder, rival = LeaderLock(redis_url, "renew", ttl=0.6), LeaderLock(redis_url, "renew")
    assert holder.acquire()
    time.sleep(1.5)
    assert holder.held() and not rival.acquire(wait=0.1)
    holder.release()


def test_without_redis_the_lock_is_always_granted() -> None:
    assert LeaderLock("stub", "x").acquire() and LeaderLock(None, "x").held()
