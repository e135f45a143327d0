"""Fixtures for the real servers (see tests/servers.py). A server starts only when a test asks.

Session-scoped servers are shared; the function-scoped fixtures on top of them (`fresh_mailbox`,
`redis_url`, `smtp_sink`) give each test a clean slate. Without a server binary a test is
skipped, or failed when CI=true.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest

from tests.servers import (
    Dovecot,
    Mailbox,
    RedisServer,
    SmtpSink,
    create_pg_database,
    drop_pg_database,
    find_binary,
    pg_available,
    require_server,
    start_dovecot,
    start_redis,
)
from workers.broker import build_broker

# The test process's broker, installed before any test wires the process (workers.wiring): the
# in-process StubBroker, which stage tests drain. Integration tests that need Redis run the
# real worker and poller as processes of their own.
dramatiq.set_broker(build_broker("stub"))


def private_dovecot(prefix: str = "cdtest-dovecot-") -> Iterator[Dovecot]:
    """A Dovecot of its own (users complaints/secret, complaints2/secret2, staff/staffpw),
    stopped and its directory removed afterwards: `yield from` it in a fixture."""
    if find_binary("dovecot") is None:
        require_server("dovecot", "the dovecot binary (package dovecot-imapd) is not installed")
    # mkdtemp under /tmp, not tmp_path_factory: pytest's base dir is 0700, which Dovecot's
    # unprivileged auth and mail processes could not enter.
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    server = start_dovecot(workdir)
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One Dovecot per session."""
    yield from private_dovecot()


@pytest.fixture
def fresh_mailbox(dovecot: Dovecot) -> Mailbox:
    """A new, empty IMAP account for this test alone (host, port, user, password)."""
    return dovecot.new_mailbox()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if find_binary("redis-server") is None:
        require_server("redis-server", "the redis-server binary is not installed")
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's redis, running (a fault test may have stopped it) and empty."""
    if not redis_server.is_up():
        redis_server.restart()
    import redis

    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this session (SQLAlchemy URL), dropped at the end."""
    problem = pg_available()
    if problem is not None:
        require_server("postgresql", f"cannot connect as admin: {problem}")
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An SMTP server for this test; AUTH user `mailer`, password `mailerpw` (optional)."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()
