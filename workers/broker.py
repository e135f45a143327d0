"""The Dramatiq broker: Redis in production, the in-process StubBroker for the demo and tests.

Actor modules call `ensure_broker()` before their decorators run, so that the actors bind to
the broker the settings name, never to Dramatiq's default (RabbitMQ on localhost).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
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

from config.settings import get_settings


def build_broker(url: str) -> Broker:
    middleware = [AgeLimit(), TimeLimit(), ShutdownNotifications(), Callbacks(), Pipelines(),
                  Retries(min_backoff=1000, max_backoff=300_000)]
    if url == "stub":
        return StubBroker(middleware=middleware)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBroker(url=url, middleware=middleware)
    raise ValueError(f"COMPLAINTDESK_BROKER_URL must be redis://… or stub, not {url!r}")


def ensure_broker() -> Broker:
    """The global broker; set from the settings unless the demo or a test set one first."""
    if dramatiq.broker.global_broker is None:
        dramatiq.set_broker(build_broker(get_settings().broker_url))
    return dramatiq.get_broker()



T = TypeVar("T")
log = logging.getLogger(__name__)


def send_in_batches(actor: dramatiq.Actor[Any, Any], ids: Sequence[int], size: int) -> None:
    """One message per `size` ids to an actor that takes a list."""
    for start in range(0, len(ids), size):
        actor.send(list(ids[start:start + size]))


def each_or_alone(ids: Sequence[int], work: Callable[[int], T],
                  alone: dramatiq.Actor[Any, Any], delay_ms: int, what: str) -> list[tuple[int, T]]:
    """Run `work` on each id of a batch message; an id that raises goes on alone (`alone`, the
    one-id actor with its own retries and backoff) and the others are not held up."""
    done = []
    for item in ids:
        try:
            done.append((item, work(item)))
        except Exception as e:
            log.warning("%s %s: %s; retried on its own", what, item, e)
            alone.send_with_options(args=(item,), delay=delay_ms)
    return done
