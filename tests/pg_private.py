"""A private PostgreSQL cluster that a fault test may stop and start again.

The machine's PostgreSQL on 127.0.0.1:5432 serves every other test, so an outage test must not
touch it. This one is its own cluster: initdb into a temp dir, `postgres` in the foreground on
a free loopback port with its socket in that dir, in its own process group, started under
`setpriv --pdeathsig` so that it dies with the test process even when teardown never runs.
initdb and postgres refuse to run as root; under root they run as the `postgres` user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from tests.servers import HOST, _wait_for, free_port


def postgres_bindir() -> Path | None:
    """Debian's versioned server binaries (initdb, postgres are not on PATH there)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivatePostgres:
    """One cluster: `start()`, `stop()` (a fast shutdown, as `systemctl stop` does), `url()`."""

    def __init__(self, bindir: Path, workdir: Path) -> None:
        self.bindir = bindir
        self.workdir = workdir
        self.datadir = workdir / "data"
        self.log_path = workdir / "postgres.log"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(workdir, account.pw_uid, account.pw_gid)
            self._as_user = [
                "--reuid",
                str(account.pw_uid),
                "--regid",
                str(account.pw_gid),
                "--init-groups",
            ]

    @classmethod
    def create(cls) -> PrivatePostgres:
        bindir = postgres_bindir()
        if bindir is None:
            raise FileNotFoundError("initdb not found (package postgresql)")
        workdir = Path(tempfile.mkdtemp(prefix="cdtest-pg-"))
        workdir.chmod(0o755)
        cluster = cls(bindir, workdir)
        cluster._run(
            [
                str(bindir / "initdb"),
                "-D",
                str(cluster.datadir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        return cluster

    def _prefix(self, pdeathsig: bool = False) -> list[str]:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            if self._as_user:
                raise FileNotFoundError("setpriv (util-linux) is needed to run postgres as root")
            return []
        extra = ["--pdeathsig", "TERM"] if pdeathsig else []
        return [setpriv, *self._as_user, *extra, "--"] if (self._as_user or extra) else []

    def _run(self, args: list[str]) -> None:
        done = subprocess.run(self._prefix() + args, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}):\n{done.stderr[-2000:]}")

    # the server

    def start(self) -> None:
        args = [
            str(self.bindir / "postgres"),
            "-D",
            str(self.datadir),
            "-p",
            str(self.port),
            "-k",
            str(self.workdir),
            "-c",
            f"listen_addresses={HOST}",
            # Durability is not what these tests are about; speed on a shared machine is.
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self._prefix(pdeathsig=True) + args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        _wait_for(self.is_up, 30.0, self.proc, f"postgres (see {self.log_path})")

    def is_up(self) -> bool:
        try:
            with psycopg.connect(self.admin_url, connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): sessions are ended, the server is gone when this returns."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # databases

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/postgres"

    def url(self, database: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver), as COMPLAINTDESK_DATABASE_URL takes it."""
        return f"postgresql+psycopg://postgres@{HOST}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)
