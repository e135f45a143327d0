"""Wiring for running our own processes against the real servers.

`stack` gives a test one complete environment: a fresh PostgreSQL database (cloned from a
migrated template, so each test starts empty), its own IMAP account on the session's Dovecot,
an empty Redis, an SMTP sink and a temp folder. From it a test gets the COMPLAINTDESK_*
environment (the public contract), starts the poller and a real Dramatiq worker as processes,
runs the CLI and reads its JSON, or builds the same Settings in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from config.settings import Settings
from models.db import get_engine
from models.migrate import upgrade
from tests.servers import (
    PG_ADMIN_URL,
    Mailbox,
    ReceivedMessage,
    SmtpSink,
    create_pg_database,
    drop_pg_database,
)
from workers.app import App
from workers.outbound.sender import RESENT

REPO = Path(__file__).resolve().parents[2]
INTAKE = "complaints@example.org"
SECRET = "integration-test-secret-0123456789"


def _script(name: str) -> list[str]:
    """Run a console script of this environment without `uv run` (it may be missing in CI)."""
    path = Path(sys.executable).parent / name
    if path.exists():
        return [str(path)]
    return [sys.executable, "-c", "from workers.ops.cli import app; app()"]


COMPLAINTDESK = _script("complaintdesk")
# tests.faults: the test-only fault injection, active when a test sets its markers.
WORKER = [
    sys.executable,
    "-m",
    "dramatiq",
    "workers.worker",
    "tests.faults",
    "--processes",
    "1",
    "--threads",
    "4",
]


def restart_sink(sink: SmtpSink) -> None:
    """Start a stopped sink again on its port (aiosmtpd closes a stopped controller's loop)."""
    sink.controller.loop = asyncio.new_event_loop()
    sink.start()


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2
) -> Any:
    """Poll until `predicate()` is truthy and return its value; fail with `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# --- PostgreSQL: one migrated template per session, a clone per test ---------------------------


def libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_template(pg_url: str) -> Iterator[str]:
    """A migrated, empty database that per-test databases are cloned from (CREATE … TEMPLATE
    copies files: much faster than running the migrations for every test)."""
    url = create_pg_database(prefix="cdtmpl")
    upgrade(url)
    get_engine(url).dispose()  # a template must have no connections when it is copied
    yield url
    drop_pg_database(url)


def clone_database(template_url: str) -> str:
    name = f"cdtest_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    template = make_url(template_url).database
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return make_url(template_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def fresh_db(pg_template: str) -> Iterator[str]:
    """An empty, migrated PostgreSQL database for this test alone (SQLAlchemy URL)."""
    url = clone_database(pg_template)
    yield url
    get_engine(url).dispose()
    drop_pg_database(url)


def query(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the database the way an operator with psql would."""
    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5) as conn:
        return conn.execute(statement, params).fetchall()


def scalar(url: str, statement: str, *params: Any) -> Any:
    return query(url, statement, *params)[0][0]


# --- processes ---------------------------------------------------------------------------------


@dataclass
class Proc:
    """One of our processes, in its own process group (the Dramatiq master and its workers)."""

    name: str
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: what a power cut or the OOM killer does."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        self.kill()  # and whatever the leader left behind in its group

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Stack:
    """Everything one test runs against; processes it starts are stopped at teardown."""

    db_url: str
    redis_url: str
    mailbox: Mailbox
    sink: SmtpSink
    workdir: Path
    overrides: dict[str, Any] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)

    def values(self) -> dict[str, Any]:
        imap = {
            "host": self.mailbox.host,
            "port": self.mailbox.port,
            "username": self.mailbox.user,
            "password": self.mailbox.password,
            "ssl": False,
            "idle_timeout": 2,
            "poll_interval": 1,
            "timeout": 10,
        }
        smtp = {
            "host": self.sink.host,
            "port": self.sink.port,
            "username": self.sink.user,
            "password": self.sink.password,
            "starttls": False,
            "ssl": False,
            "timeout": 10,
        }
        values: dict[str, Any] = {
            "database_url": self.db_url,
            "broker_url": self.redis_url,
            "imap": imap,
            "smtp": smtp,
            "intake_address": INTAKE,
            "secret_key": SECRET,
            "attachments_dir": str(self.workdir / "attachments"),
            "sweep_grace": 10,
            "sweep_interval": 1,
        }
        for key, value in self.overrides.items():
            if isinstance(value, dict):
                values[key] = {**values[key], **value}
            else:
                values[key] = value
        return values

    @property
    def env(self) -> dict[str, str]:
        """The process environment: ours, with no COMPLAINTDESK_* leaking in from outside."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINTDESK_")}
        for key, value in self.values().items():
            if isinstance(value, dict):
                for sub, subvalue in value.items():
                    env[f"COMPLAINTDESK_{key.upper()}__{sub.upper()}"] = _env_value(subvalue)
            else:
                env[f"COMPLAINTDESK_{key.upper()}"] = _env_value(value)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def settings(self) -> Settings:
        return Settings(**self.values())

    def app(self) -> App:
        return App.from_settings(self.settings())

    # processes

    def spawn(self, name: str, args: list[str]) -> Proc:
        log = self.workdir / f"{name}-{len(self.procs)}.log"
        setpriv = shutil.which("setpriv")
        prefix = [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []
        with log.open("ab") as out:
            popen = subprocess.Popen(
                prefix + args,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def start_poller(self) -> Proc:
        return self.spawn("poller", [*COMPLAINTDESK, "poller"])

    def start_worker(self) -> Proc:
        return self.spawn("worker", WORKER)

    def cli(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [*COMPLAINTDESK, *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"complaintdesk {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout}\n{done.stderr}"
            )
        return done

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name} ({p.log.name}, exit {p.popen.poll()}) ---\n{p.tail()}"
            for p in self.procs
        )

    # the mailbox

    def append_all(self, raws: list[bytes], folder: str = "INBOX") -> None:
        """APPEND every mail over one IMAP connection, as an MTA's delivery would add them."""
        with self.mailbox.client() as imap:
            for raw in raws:
                imap.append(folder, raw)


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def stack(
    request: pytest.FixtureRequest,
    fresh_db: str,
    redis_url: str,
    fresh_mailbox: Mailbox,
    smtp_sink: SmtpSink,
    tmp_path: Path,
) -> Iterator[Stack]:
    current = Stack(fresh_db, redis_url, fresh_mailbox, smtp_sink, tmp_path)
    yield current
    current.stop_all()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed and current.procs:
        print(current.logs())  # shown under "Captured stdout teardown"


# --- what recipients see -------------------------------------------------------------------------


def message_id(raw: bytes) -> str:
    head = BytesParser(policy=default_policy).parsebytes(raw, headersonly=True)
    return str(head["Message-ID"]).strip().strip("<>")


def delivered(stack: Stack) -> list[ReceivedMessage]:
    """The mail at the sink as the recipients' clients show it: one per Message-ID.

    A worker SIGKILLed after the server took a mail and before the row was marked sent makes
    the next attempt send it again (RFC 1047's window; no SMTP client can close it). That is
    allowed only where the outbox row records the interrupted attempt (workers.outbound.sender.RESENT),
    and only as the same bytes with the same Message-ID.
    """
    seen: dict[str, bytes] = {}
    unique: list[ReceivedMessage] = []
    twice: Counter[str] = Counter()
    for m in stack.sink.messages:
        key = message_id(m.raw)
        if key in seen:
            assert m.raw == seen[key], f"{key}: sent twice with different bytes"
            twice[key] += 1
            continue
        seen[key] = m.raw
        unique.append(m)
    if twice:

        def recorded() -> bool:  # the resend is marked on its row just after the sink took it
            return set(twice) <= {
                k
                for (k,) in query(
                    stack.db_url,
                    "SELECT message_id FROM outbound_email WHERE last_error = %s",
                    RESENT,
                )
            }

        wait_until(recorded, timeout=10, what=f"an interrupted attempt on record for {twice}")
        assert max(twice.values()) == 1, f"sent three times or more: {twice}"
    return unique
