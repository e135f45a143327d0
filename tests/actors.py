"""The stage actors by name, as the wiring declared them (tests never import stage modules)."""

from __future__ import annotations

from typing import Any

import dramatiq


def actor(name: str) -> dramatiq.Actor[Any, Any]:
    return dramatiq.get_broker().get_actor(name)
