"""`complaintdesk scheduler`: the legal clock's process (Procfile: scheduler).

A tick every minute (`--interval`), or one tick (`--once`, e.g. from cron or a test). With
Redis as the broker the due deadlines go to the workers and only the holder of the scheduler's
leader lock ticks; with the stub broker (demo) there are no workers, so this process runs the
clock and sender actors itself. Wire it with `register(app)`.
"""

from __future__ import annotations

import logging
import signal
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    """Add the `scheduler` command to the complaintdesk CLI."""
    app.command("scheduler")(scheduler)


def scheduler(
    once: Annotated[bool, typer.Option("--once", help="One tick, then exit.")] = False,
    interval: Annotated[float, typer.Option(min=1, help="Seconds between ticks.")] = 60.0,
    batch: Annotated[int, typer.Option(min=1, help="Deadlines enqueued per tick at most.")] = 1000,
) -> None:
    """Find due deadlines every minute and enqueue reminders, escalations and auto-closes."""
    from config.settings import require_secret_key
    from workers import wiring
    from workers.app import installed_or_from_environment
    from workers.clock.scheduler import Scheduler

    app = installed_or_from_environment()
    require_secret_key(app.settings)  # its reminders carry signed staff reply addresses
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    worker = _in_process_worker(wiring.start(app))
    sched = Scheduler(app, interval=interval, batch=batch)
    try:
        if once:
            result = sched.run_once()
            sched.lock.release()
            if result is None:
                typer.echo("another scheduler holds the lock; nothing done")
                return
            _drain(worker)
            typer.echo(
                f"{len(result.deadline_ids)} deadlines due at "
                f"{app.calendar.local(result.at).isoformat(timespec='seconds')}"
            )
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: sched.stop.set())
        sched.run()
    finally:
        if worker is not None:
            worker.stop()


def _in_process_worker(broker: Any) -> Any:
    """With the stub broker nobody else would run the actors: a worker in this process."""
    import dramatiq
    from dramatiq.brokers.stub import StubBroker

    if not isinstance(broker, StubBroker):
        return None
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    return worker


def _drain(worker: Any) -> None:
    if worker is None:
        return
    for _ in range(2):  # the clock actor enqueues the sender
        for queue in ("clock", "outbox"):
            worker.broker.join(queue, fail_fast=True)
    worker.join()
