"""Real servers for the integration tests: started on loopback ports, stopped by the tests.

Dovecot (IMAP), redis-server, an aiosmtpd sink and throwaway PostgreSQL databases. Nothing here
mocks a protocol: tests talk to the same kinds of servers production does. `tests/conftest.py`
wraps these in fixtures; `tests/setup_servers.sh` installs the binaries.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import psycopg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from imapclient import IMAPClient
from psycopg import sql
from sqlalchemy.engine import make_url

HOST = "127.0.0.1"
# Admin connection used to create and drop the per-session databases; override for a PG elsewhere.
PG_ADMIN_URL = os.environ.get("CDTEST_PG_ADMIN", f"postgresql://postgres@{HOST}:5432/postgres")
# Debian puts daemons in sbin, which a non-root PATH often lacks.
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")


def free_port() -> int:
    """A loopback port nobody listens on right now (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def find_binary(name: str) -> str | None:
    """Path of a server binary, looking in sbin directories too."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN_DIRS])
    return shutil.which(name, path=path)


def require_server(name: str, reason: str) -> None:
    """Give up on a test whose server is missing: fail in CI (never a silent skip), else skip."""
    import pytest

    message = f"{name} unavailable: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: servers are required; run tests/setup_servers.sh)")
    pytest.skip(f"{message} (run tests/setup_servers.sh as root to install it)")


def _wait_for(probe, timeout: float, proc: subprocess.Popen | None, what: str) -> None:
    """Poll `probe()` until it returns True; stop early when the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} while starting")
        try:
            if probe():
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"{what} did not become ready within {timeout} s")


def _spawn(args: list[str], stderr_path: Path) -> subprocess.Popen:
    """Start a server in its own process group, so stopping it reaches all its children.

    setpriv --pdeathsig makes the server die with the test process even when that is killed
    outright (SIGKILL, pytest-timeout's thread method), when teardown never runs.
    """
    setpriv = shutil.which("setpriv")
    prefix = [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []
    with stderr_path.open("ab") as stderr:
        return subprocess.Popen(
            prefix + args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )


def _stop_group(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """Stop a process started with start_new_session=True and every child in its group."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    # Children may outlive a leader that exited (or ignored SIGTERM): reap the whole group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


# --- Dovecot -----------------------------------------------------------------------------------

_CONF_COMMON = """\
base_dir = {workdir}/run
state_dir = {workdir}/state
instance_name = cdtest-{port}
protocols = imap
listen = {host}
ssl = no
auth_mechanisms = plain login
log_path = {log_path}
info_log_path = {log_path}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {uid}
mail_fsync = never
# Tests log in with wrong passwords on purpose; the default 2 s penalty would only slow them.
auth_failure_delay = 0
namespace inbox {{
  inbox = yes
}}
"""

# 2.3 syntax (Debian 12). One passwd-file per user: a new user's file is read at once, whereas
# Dovecot re-checks a changed single file at most once a second.
_CONF_23 = """\
disable_plaintext_auth = no
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = {users_dir}/%u
}}
userdb {{
  driver = passwd-file
  args = {users_dir}/%u
}}
service imap-login {{
  {chroot}
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""

# 2.4 renamed most settings (Debian 13); dovecot_config_version must come first.
_CONF_24_HEAD = "dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n"
_CONF_24 = """\
auth_allow_cleartext = yes
mail_driver = maildir
mail_path = ~/Maildir
passdb passwd-file {{
  passwd_file_path = {users_dir}/%{{user}}
}}
userdb passwd-file {{
  passwd_file_path = {users_dir}/%{{user}}
}}
service imap-login {{
  {chroot}
  inet_listener imap {{
    listen = {host}
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""

DEFAULT_IMAP_USERS = {"complaints": "secret", "complaints2": "secret2", "staff": "staffpw"}


def dovecot_version(binary: str) -> tuple[int, int]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    major, minor = re.match(r"(\d+)\.(\d+)", out).groups()
    return int(major), int(minor)


def _mail_account() -> tuple[int, int, str]:
    """uid, gid and name that Dovecot runs mail processes as: never root (Dovecot refuses)."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return me.pw_uid, me.pw_gid, me.pw_name
    for name in ("nobody", "dovecot"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid, name
    raise RuntimeError("no unprivileged user (nobody, dovecot) to own the test mail")


def _check_reachable(path: Path) -> None:
    """Auth and mail processes run unprivileged, so every parent must be world-traversable."""
    if os.geteuid() != 0:
        return
    for parent in [path, *path.parents]:
        if not parent.stat().st_mode & 0o001:
            raise ValueError(
                f"{parent} is not world-traversable; Dovecot's unprivileged processes cannot "
                f"reach {path}. Use a directory from tempfile.mkdtemp() chmod 0o755."
            )


@dataclass
class Mailbox:
    """One IMAP account on a Dovecot: what a poller needs to connect, plus test helpers."""

    server: Dovecot
    user: str
    password: str

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def client(self) -> IMAPClient:
        return self.server.client(self.user)

    def append(self, raw: bytes, mailbox: str = "INBOX") -> int:
        return self.server.append(self.user, raw, mailbox)


@dataclass
class Dovecot:
    """A private Dovecot: its own config, base_dir, log and maildirs under `workdir`."""

    host: str
    port: int
    users: dict[str, str]
    workdir: Path
    log_path: Path
    proc: subprocess.Popen
    mail_uid: int
    mail_gid: int
    _counter: itertools.count = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, user: str, timeout: float = 10.0) -> IMAPClient:
        """A logged-in IMAPClient; the caller logs out (or uses it as a context manager)."""
        imap = IMAPClient(self.host, port=self.port, ssl=False, timeout=timeout)
        imap.login(user, self.users[user])
        return imap

    def append(self, user: str, raw: bytes, mailbox: str = "INBOX") -> int:
        """APPEND raw bytes as-is; returns the new UID from the UIDPLUS APPENDUID response."""
        with self.client(user) as imap:
            response = imap.append(mailbox, raw)
        match = re.search(rb"APPENDUID \d+ (\d+)", response)
        if match is None:
            raise RuntimeError(f"no APPENDUID in {response!r}")
        return int(match.group(1))

    def add_user(self, user: str, password: str) -> None:
        """Create an account, usable at once: its own passwd-file, its own maildir home."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", user):
            raise ValueError(f"unsafe IMAP user name {user!r}: it is a file name here")
        with self._lock:
            home = self.workdir / "mail" / user
            home.mkdir()
            os.chown(home, self.mail_uid, self.mail_gid)
            line = f"{user}:{{PLAIN}}{password}:{self.mail_uid}:{self.mail_gid}::{home}::\n"
            partial = self.workdir / "users.d" / f".{user}.tmp"
            partial.write_text(line, encoding="utf-8")
            partial.rename(self.workdir / "users.d" / user)  # auth never reads half a file
            self.users[user] = password

    def new_mailbox(self, prefix: str = "box") -> Mailbox:
        """A fresh, empty account: tests that use one never see each other's mail."""
        user = f"{prefix}{next(self._counter)}-{uuid.uuid4().hex[:6]}"
        password = uuid.uuid4().hex[:12]
        self.add_user(user, password)
        return Mailbox(self, user, password)

    def stop(self) -> None:
        _stop_group(self.proc)

    def restart(self, down_for: float = 0.0) -> None:
        """Stop, stay down `down_for` seconds, start again on the same port with the same
        accounts and mail: what a client sees of a server restart."""
        self.stop()
        time.sleep(down_for)
        self.proc = _spawn(
            [str(find_binary("dovecot")), "-F", "-c", str(self.workdir / "dovecot.conf")],
            self.workdir / "dovecot.stderr",
        )
        _wait_for(lambda: _imap_greets(self.port), 10.0, self.proc, "dovecot after a restart")


def _write_dovecot_config(binary: str, workdir: Path, port: int, mail_uid: int) -> Path:
    is_root = os.geteuid() == 0
    me = pwd.getpwuid(os.geteuid()).pw_name
    my_group = grp.getgrgid(os.getegid()).gr_name
    values = {
        "workdir": workdir,
        "host": HOST,
        "port": port,
        "log_path": workdir / "dovecot.log",
        "users_dir": workdir / "users.d",
        "uid": mail_uid,
        # Root: Dovecot's own unprivileged users. Otherwise everything runs as us.
        "internal_user": "dovecot" if is_root else me,
        "internal_group": "dovecot" if is_root else my_group,
        "login_user": "dovenull" if is_root else me,
        # Only root can chroot the login process.
        "chroot": "" if is_root else "chroot =",
    }
    if dovecot_version(binary) >= (2, 4):
        text = _CONF_24_HEAD + _CONF_COMMON.format(**values) + _CONF_24.format(**values)
    else:
        text = _CONF_COMMON.format(**values) + _CONF_23.format(**values)
    conf = workdir / "dovecot.conf"
    conf.write_text(text, encoding="utf-8")
    return conf


def _imap_greets(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=1) as sock:
        return sock.recv(64).startswith(b"* OK")


def start_dovecot(workdir: Path, users: dict[str, str] | None = None, attempts: int = 3) -> Dovecot:
    """Start `dovecot -F` on a free loopback port; returns once it greets IMAP clients.

    Under root, `workdir` and its parents must be world-traversable (see _check_reachable).
    """
    binary = find_binary("dovecot")
    if binary is None:
        raise FileNotFoundError("dovecot not installed")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    _check_reachable(workdir)
    uid, gid, _ = _mail_account()
    (workdir / "mail").mkdir(exist_ok=True)
    (workdir / "users.d").mkdir(exist_ok=True)
    for attempt in range(attempts):
        port = free_port()
        conf = _write_dovecot_config(binary, workdir, port, uid)
        proc = _spawn([binary, "-F", "-c", str(conf)], workdir / "dovecot.stderr")
        server = Dovecot(HOST, port, {}, workdir, workdir / "dovecot.log", proc, uid, gid)
        try:
            _wait_for(lambda p=port: _imap_greets(p), 10.0, proc, "dovecot")
        except (RuntimeError, TimeoutError) as exc:
            server.stop()
            if attempt + 1 == attempts:
                errors = (workdir / "dovecot.stderr").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"{exc}; {workdir}/dovecot.stderr ends:\n{errors}") from exc
            continue  # most likely someone took the port between free_port() and bind
        for user, password in (users or DEFAULT_IMAP_USERS).items():
            server.add_user(user, password)
        return server
    raise AssertionError("unreachable")


# --- Redis -------------------------------------------------------------------------------------


class RedisServer:
    """A private redis-server without persistence; it keeps its port across restart()."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        binary = find_binary("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server not installed")
        self.binary = binary
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = HOST
        self.port = port or free_port()
        self.log_path = self.workdir / "redis.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", self.host]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        args += ["--logfile", str(self.log_path), "--daemonize", "no"]
        self.proc = _spawn(args, self.workdir / "redis.stderr")
        _wait_for(self.is_up, 10.0, self.proc, f"redis-server (see {self.log_path})")

    def is_up(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Graceful shutdown (SIGTERM)."""
        if self.proc is not None:
            _stop_group(self.proc)
            self.proc = None

    def kill(self) -> None:
        """Crash it (SIGKILL), as a fault test would see a lost broker."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def start_redis(workdir: Path) -> RedisServer:
    server = RedisServer(workdir)
    server.start()
    return server


# --- PostgreSQL --------------------------------------------------------------------------------


def pg_available(admin_url: str = PG_ADMIN_URL) -> str | None:
    """None when the admin connection works, else why not."""
    try:
        with psycopg.connect(admin_url, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip()


def create_pg_database(prefix: str = "cdtest", admin_url: str = PG_ADMIN_URL) -> str:
    """Create an empty database; returns its SQLAlchemy URL (psycopg 3 driver)."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def drop_pg_database(url: str, admin_url: str = PG_ADMIN_URL) -> None:
    """Drop a database made by create_pg_database, ending any sessions still connected to it."""
    name = make_url(url).database
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


# --- SMTP sink ---------------------------------------------------------------------------------

TEMP_FAIL = "451 4.3.0 try later"
NO_SUCH_USER = "550 5.1.1 no such user"


class ReceivedMessage(NamedTuple):
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes


class _SinkHandler:
    """aiosmtpd handler; runs on the Controller's loop thread, state shared under a lock."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope: Envelope, address, options) -> str:
        # The failure mode is decided per transaction, so "next N messages" counts messages.
        envelope.cdtest_failure = self.sink._take_failure()
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope: Envelope, address, options) -> str:
        failure = getattr(envelope, "cdtest_failure", None)
        if failure and failure[0] == "RCPT":
            return failure[1]
        rejected = self.sink._recipient_failure(address)
        if rejected:
            return rejected
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope: Envelope) -> str:
        failure = getattr(envelope, "cdtest_failure", None)
        if failure and failure[0] == "DATA":
            return failure[1]
        if self.sink.data_delay:  # a slow server: the client waits for the reply to DATA
            await asyncio.sleep(self.sink.data_delay)
        raw = envelope.original_content or envelope.content
        self.sink._record(ReceivedMessage(envelope.mail_from, list(envelope.rcpt_tos), raw))
        return "250 2.0.0 Message accepted for delivery"


class SmtpSink:
    """An SMTP server on loopback that keeps every message, with switchable failures.

    AUTH PLAIN/LOGIN is offered without TLS (loopback only) and accepts `user`/`password`;
    with auth_required=True, unauthenticated MAIL is refused as a real submission server does.
    """

    def __init__(
        self,
        user: str = "mailer",
        password: str = "mailerpw",
        auth_required: bool = False,
        smtputf8: bool = True,
    ) -> None:
        self.host = HOST
        self.port = free_port()
        self.user = user
        self.password = password
        self.logins: list[str] = []
        self._messages: list[ReceivedMessage] = []
        self._cond = threading.Condition()
        self._failure: tuple[str, str] | None = None
        self._failures_left: int | None = None
        self._recipient_failures: dict[str, str] = {}
        # Seconds to wait before answering DATA; a test sets it to keep work in flight.
        self.data_delay = 0.0
        self.controller = Controller(
            _SinkHandler(self),
            hostname=HOST,
            port=self.port,
            server_hostname="sink.test",
            decode_data=False,  # keep raw bytes: the sink must not reinterpret the message
            enable_SMTPUTF8=smtputf8,  # False: a server that does not offer RFC 6531
            authenticator=self._authenticate,
            auth_require_tls=False,
            auth_required=auth_required,
        )

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    # what arrived

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._cond:
            return list(self._messages)

    def clear(self) -> None:
        with self._cond:
            self._messages.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least `count` messages arrived; TimeoutError says what did."""
        with self._cond:
            if self._cond.wait_for(lambda: len(self._messages) >= count, timeout):
                return list(self._messages)
            got = [(m.mail_from, m.rcpt_tos) for m in self._messages]
        raise TimeoutError(f"SMTP sink got {len(got)} of {count} messages in {timeout} s: {got}")

    # failure modes

    def fail(self, reply: str = TEMP_FAIL, stage: str = "RCPT", count: int | None = 1) -> None:
        """Answer `reply` at RCPT or DATA for the next `count` messages (None: until reset)."""
        if stage not in ("RCPT", "DATA"):
            raise ValueError(f"stage must be RCPT or DATA, not {stage!r}")
        with self._cond:
            self._failure = (stage, reply)
            self._failures_left = count

    def fail_recipient(self, address: str, reply: str = NO_SUCH_USER) -> None:
        """Refuse one recipient at RCPT (until reset), accepting the others."""
        with self._cond:
            self._recipient_failures[address.lower()] = reply

    def reset(self) -> None:
        with self._cond:
            self._failure = self._failures_left = None
            self._recipient_failures.clear()
            self.data_delay = 0.0

    # called from the handler thread

    def _take_failure(self) -> tuple[str, str] | None:
        with self._cond:
            failure = self._failure
            if failure is not None and self._failures_left is not None:
                self._failures_left -= 1
                if self._failures_left <= 0:
                    self._failure = self._failures_left = None
            return failure

    def _recipient_failure(self, address: str) -> str | None:
        with self._cond:
            return self._recipient_failures.get(address.lower())

    def _record(self, message: ReceivedMessage) -> None:
        with self._cond:
            self._messages.append(message)
            self._cond.notify_all()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == self.user.encode()
            and data.password == self.password.encode()
        )
        if ok:
            with self._cond:
                self.logins.append(self.user)
        return AuthResult(success=ok, handled=False)
