"""The worker process, for `dramatiq workers.worker` (the Procfile's worker): wires the process
(workers.wiring), adds the sweeper, and loads at boot what the first mails would otherwise load
mid-run."""

from __future__ import annotations

from config.settings import get_settings, require_secret_key
from workers import wiring
from workers.app import App
from workers.sweeper import Sweeper

require_secret_key(get_settings())  # no worker signs or verifies with a missing or public key
app = App.from_settings(get_settings())
broker = wiring.start(app)
broker.add_middleware(Sweeper())


wiring.warm_up()
if app.settings.worker_metrics:
    # Dramatiq's exporter (actor counts, durations, retries) on dramatiq_prom_port (9191).
    from dramatiq.middleware.prometheus import Prometheus

    broker.add_middleware(Prometheus())
