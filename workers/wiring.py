"""The one place that wires a process: its App, its broker, and every stage's actors on it.

Each process starts here — the worker (`dramatiq workers.worker`), the CLI's poller, scheduler
and operator commands, the demo, the tests — and nowhere else is a broker built or an App
installed. The stage modules (`<role>/stage.py`, the only modules that declare actors) are
imported by `start` alone, once the broker is installed, so their actors bind to it; the hops
between stages (workers.hops) find the actors by name.
"""

from __future__ import annotations

import importlib

import dramatiq
from dramatiq.broker import Broker

from workers import app as app_module
from workers.app import App
from workers.broker import DECLARED, build_broker
from workers.intake.failures import RecordIngestFailure

STAGE_MODULES = (
    "workers.intake.stage",
    "workers.triage.stage",
    "workers.outbound.stage",
    "workers.clock.stage",
)


def start(app: App, broker: Broker | None = None) -> Broker:
    """Install `app` and a broker (the one given; else the process's own; else one built from
    the settings) and declare every stage's actors on it."""
    if broker is None:
        broker = dramatiq.broker.global_broker or build_broker(app.settings.broker_url)
    dramatiq.set_broker(broker)
    app_module.install(app)
    if not any(isinstance(m, RecordIngestFailure) for m in broker.middleware):
        broker.add_middleware(RecordIngestFailure())
    for module in STAGE_MODULES:
        importlib.import_module(module)
    for actor in DECLARED:  # declared on an earlier broker of this process (tests)
        if actor.broker is not broker:
            actor.broker = broker
            broker.declare_actor(actor)
    return broker


def stop() -> None:
    """Forget the App (tests, between two wirings)."""
    app_module.install(None)


def warm_up() -> None:
    """Load at boot what the first mails would load mid-run, holding the GIL for seconds
    while other threads wait: scikit-learn (the model's module), OpenCC's tables and jieba's
    dictionary (the keyword rules' word boundaries), and every reply template compiled, the
    traditional-characters ones converted (workers.outbound.render)."""
    from workers.mail.textnorm import normalise, to_traditional, word_bounds
    from workers.outbound.render import template_env, traditional_template_env
    from workers.triage import model  # noqa: F401

    word_bounds(normalise("預熱"))
    to_traditional("预热")
    for env, prefix in ((template_env(), ""), (traditional_template_env(), "zh-CN/")):
        for name in env.list_templates(extensions="j2"):
            if name.startswith(prefix):
                env.get_template(name)
