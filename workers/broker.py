"""The Dramatiq broker and every actor's options: built where a process starts, never at import.

`build_broker` makes the broker the settings name (Redis in production, the in-process
StubBroker for the demo and tests); `workers.wiring.start` installs it. `stage_actor` declares a
stage's actor with its options from `ACTOR_OPTIONS`, the one table of retry, backoff and
time-limit policy, and refuses to run before a broker is installed: Dramatiq would otherwise
bind the actor to its default broker (RabbitMQ on localhost).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import dramatiq
from dramatiq.broker import Broker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

# Batch actors retry less and last longer; a batch's failing item goes on alone to the one-item
# actor, which has the full retries and backoff (workers.batches).
_TRIAGE = {"queue_name": "triage", "min_backoff": 500, "max_backoff": 30_000}
_OUTBOX = {"queue_name": "outbox", "min_backoff": 2_000}
ACTOR_OPTIONS: dict[str, dict[str, Any]] = {
    "ingest_message": {
        "queue_name": "ingest",
        "max_retries": 5,
        "min_backoff": 500,
        "max_backoff": 30_000,
        "time_limit": 120_000,
    },
    "ingest_batch": {
        "queue_name": "ingest",
        "max_retries": 5,
        "min_backoff": 500,
        "max_backoff": 30_000,
        "time_limit": 300_000,
    },
    "classify_case": {**_TRIAGE, "max_retries": 5, "time_limit": 60_000},
    "classify_batch": {**_TRIAGE, "max_retries": 3, "time_limit": 300_000},
    "route_case": {**_TRIAGE, "max_retries": 5, "time_limit": 60_000},
    "route_batch": {**_TRIAGE, "max_retries": 3, "time_limit": 300_000},
    "send_outbound": {**_OUTBOX, "max_retries": 10, "max_backoff": 600_000, "time_limit": 120_000},
    "send_outbound_batch": {
        **_OUTBOX,
        "max_retries": 3,
        "max_backoff": 60_000,
        "time_limit": 600_000,
    },
    "deadline_due": {
        "queue_name": "clock",
        "max_retries": 5,
        "min_backoff": 1_000,
        "max_backoff": 60_000,
        "time_limit": 120_000,
    },
}

F = TypeVar("F", bound=Callable[..., Any])
# Every stage actor declared in this process, so a later broker can take them all over.
DECLARED: list[dramatiq.Actor[Any, Any]] = []


def build_broker(url: str) -> Broker:
    middleware = [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(min_backoff=1000, max_backoff=300_000),
    ]
    if url == "stub":
        return StubBroker(middleware=middleware)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBroker(url=url, middleware=middleware)
    raise ValueError(f"COMPLAINTDESK_BROKER_URL must be redis://… or stub, not {url!r}")


def stage_actor(fn: F) -> dramatiq.Actor[Any, Any]:
    """Declare `fn` as the actor of its name, with its options from ACTOR_OPTIONS."""
    if dramatiq.broker.global_broker is None:
        raise RuntimeError(
            f"{fn.__module__} declares actors: import it through "
            "workers.wiring.start, after the process's broker is installed"
        )
    actor: dramatiq.Actor[Any, Any] = dramatiq.actor(
        actor_name=fn.__name__, **ACTOR_OPTIONS[fn.__name__]
    )(fn)
    DECLARED.append(actor)
    return actor
