"""Every actor, for `dramatiq workers.worker` (the Procfile's worker), plus the sweeper."""

from __future__ import annotations

from config.settings import get_settings
from workers.broker import ensure_broker

broker = ensure_broker()
from workers.triage.classify_case import classify_batch, classify_case  # noqa: E402
from workers.clock.due import deadline_due  # noqa: E402
from workers.intake.ingest import ingest_batch, ingest_message  # noqa: E402
from workers.triage.route_case import route_batch, route_case  # noqa: E402
from workers.outbound.sender import send_outbound, send_outbound_batch  # noqa: E402
from workers.sweeper import Sweeper  # noqa: E402

broker.add_middleware(Sweeper())


def warm_up() -> None:
    """Load at boot what the first mails would load mid-run, holding the GIL for seconds
    while other threads wait: scikit-learn (the model's module), OpenCC's tables and jieba's
    dictionary (the keyword rules' word boundaries), and every reply template compiled, the
    traditional-characters ones converted (workers.outbound.render)."""
    from workers.triage import model as classifier_model  # noqa: F401
    from workers.outbound.render import template_env, traditional_template_env
    from workers.mail.textnorm import normalise, to_traditional, word_bounds

    word_bounds(normalise("預熱"))
    to_traditional("预热")
    for env, prefix in ((template_env(), ""), (traditional_template_env(), "zh-CN/")):
        for name in env.list_templates(extensions="j2"):
            if name.startswith(prefix):
                env.get_template(name)


warm_up()
if get_settings().worker_metrics:
    # Dramatiq's exporter (actor counts, durations, retries) on dramatiq_prom_port (9191).
    from dramatiq.middleware.prometheus import Prometheus

    broker.add_middleware(Prometheus())

__all__ = ["broker", "classify_batch", "classify_case", "deadline_due", "ingest_batch",
           "ingest_message", "route_batch", "route_case", "send_outbound", "send_outbound_batch"]
