"""Unit-test wiring: a fresh SQLite database per test and Dramatiq's StubBroker.

Stage tests drain the stub queues with a real dramatiq.Worker and assert what reached the next
stage (the outbox rows, the case rows), as a user of the pipeline would see it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest

os.environ.setdefault("COMPLAINTDESK_BROKER_URL", "stub")

from config.settings import Settings  # noqa: E402
from models.db import get_engine  # noqa: E402
from models.migrate import upgrade  # noqa: E402
from workers import wiring  # noqa: E402
from workers.app import App  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = get_engine(url)
    with engine.connect() as conn:  # WAL: fold the log into the file we are about to copy
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def app(tmp_path: Path, _migrated_template: Path) -> Iterator[App]:
    db = tmp_path / "complaintdesk.db"
    db.write_bytes(_migrated_template.read_bytes())
    settings = Settings(
        database_url=f"sqlite:///{db}",
        broker_url="stub",
        attachments_dir=tmp_path / "attachments",
        outbox_dir=tmp_path / "outbox",
        intake_address="complaints@example.org",
        secret_key="unit-test-secret-0123456789abcdefghij",
    )
    current = App.from_settings(settings)
    wiring.start(current)
    yield current
    wiring.stop()


@pytest.fixture
def stub_broker() -> Iterator[dramatiq.Broker]:
    broker = dramatiq.get_broker()  # the test process's StubBroker (tests/conftest.py)
    broker.flush_all()
    yield broker
    broker.flush_all()


@pytest.fixture
def drain(stub_broker: dramatiq.Broker) -> Iterator[object]:
    """Call drain() to run every queued actor until all queues are empty."""
    worker = dramatiq.Worker(stub_broker, worker_threads=1, worker_timeout=20)
    worker.start()

    def run() -> None:
        for _ in range(5):  # an actor may enqueue work on a queue already joined
            for queue in sorted(stub_broker.get_declared_queues()):
                stub_broker.join(queue, fail_fast=True)
        worker.join()

    yield run
    worker.stop()
    # Dramatiq leaves the stopped worker's hook on the broker, and the hook would start a
    # consumer for every queue declared later (in another test) that takes its messages and
    # never runs them. Take it off.
    stub_broker.middleware[:] = [
        m for m in stub_broker.middleware if getattr(m, "worker", None) is not worker
    ]
