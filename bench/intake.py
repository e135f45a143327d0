"""Intake benchmark: N generated complaints through the real Procfile processes, end to end.

Run on demand (not a test):

    uv run python bench/intake.py                       # N=1000, PostgreSQL, Procfile flags
    uv run python bench/intake.py --n 200 --db sqlite
    uv run python bench/intake.py --processes 2 --threads 8 --json figures.json
    uv run python bench/intake.py --env COMPLAINTDESK_IMAP__FETCH_BATCH=500

What it does: starts a private Dovecot, redis-server, an SMTP sink (aiosmtpd, in its own
process so that it never competes with the bench for the GIL; it writes the arrival time and
In-Reply-To of every mail to a file) and a fresh PostgreSQL database (or an SQLite file), runs
`complaintdesk db upgrade`, then the Procfile's `poller` and `worker` as subprocesses with the
environment a server would have. Once both are ready it APPENDs the N mails (bench/mailgen.py)
to the intake mailbox, timing each, and waits for the N acknowledgements at the sink.

Figures: throughput (first append to last acknowledgement), latency append → acknowledgement
(p50/p95/max, matched by In-Reply-To = the complaint's Message-ID) and where it goes (poller,
ingest queue + work, outbox + SMTP, from the rows' timestamps), peak RSS of every process (psutil,
every 0.2 s), CPU seconds of every process during the run (ours and the servers'), and the
correctness counts: cases, acknowledgements, duplicates, missing. Everything it started is
stopped and removed at exit, unless --keep.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/intake.py` as well as `python -m bench.intake`
    sys.path.insert(0, str(ROOT))

BIN = Path(sys.executable).parent  # the venv's bin: complaintdesk, dramatiq
HOST = "127.0.0.1"
INTAKE = "complaints@example.org"
SAMPLE_EVERY = 0.2


# --- the SMTP sink (a child process) ----------------------------------------------------------

_SINK_HEADER = re.compile(rb"^(In-Reply-To|Message-ID):\s*<([^>\s]*)>", re.I | re.M)


def run_sink(port: int, log_path: str) -> None:
    """aiosmtpd on loopback; one line per mail: monotonic arrival, In-Reply-To, Message-ID, rcpt."""
    from aiosmtpd.controller import Controller

    out = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (lives as long as we do)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            arrived = time.monotonic()
            raw = envelope.original_content or envelope.content
            head = raw.split(b"\r\n\r\n", 1)[0]
            found = {k.lower(): v.decode("ascii", "replace") for k, v in _SINK_HEADER.findall(head)}
            out.write(
                f"{arrived:.6f}\t{found.get(b'in-reply-to', '')}\t"
                f"{found.get(b'message-id', '')}\t{','.join(envelope.rcpt_tos)}\t{len(raw)}\n"
            )
            return "250 2.0.0 Message accepted for delivery"

    controller = Controller(
        Handler(),
        hostname=HOST,
        port=port,
        decode_data=False,
        enable_SMTPUTF8=True,
        server_hostname="sink.bench",
    )
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("ready", flush=True)
    while not stop.wait(0.5):
        pass
    controller.stop()
    out.close()


def staff_addresses() -> set[str]:
    """Where the policy file's staff get their mail (routing notices go there)."""
    from config.policy import load_policy
    from config.settings import Settings

    return {m.email.lower() for m in load_policy(Settings().policy_file).staff}


@dataclass
class Ack:
    arrived: float  # monotonic
    in_reply_to: str
    message_id: str
    rcpt: str
    size: int


class SinkLog:
    """Follows the sink's file: every acknowledgement as it arrives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.acks: list[Ack] = []
        self._partial = b""

    def read(self) -> list[Ack]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        new = []
        for line in lines:
            t, irt, mid, rcpt, size = line.decode("utf-8").split("\t")
            new.append(Ack(float(t), irt, mid, rcpt, int(size)))
        self.acks.extend(new)
        return new


# --- process sampling -------------------------------------------------------------------------


@dataclass
class ProcStat:
    label: str
    pid: int
    peak_rss: int = 0
    cpu_first: float | None = None
    cpu_last: float = 0.0
    created: float = 0.0


class Sampler(threading.Thread):
    """RSS and CPU of every process we care about, every 0.2 s.

    The process tree is looked up once a second (one pass over /proc, which also finds the
    PostgreSQL backends of our database as the pools open them); the known processes are
    sampled every tick. The bench's own CPU stays around 1 % of a core.
    """

    def __init__(self, pg_dbname: str | None) -> None:
        super().__init__(name="sampler", daemon=True)
        import psutil

        self.psutil = psutil
        self.roots: dict[str, tuple[int, bool]] = {}  # label -> pid, with children (label[i])
        self.stats: dict[int, ProcStat] = {}
        self.tree_peak: dict[str, int] = defaultdict(int)  # label -> peak of the summed tree RSS
        self.pg_dbname = pg_dbname
        self.pg_pids: dict[int, str] = {}
        self._pg_seen: set[int] = set()
        self._groups: list[tuple[str, list[tuple[str, int]]]] = []
        self._procs: dict[int, Any] = {}
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._last_scan = 0.0

    def watch(self, label: str, pid: int, children: bool = True) -> None:
        with self._lock:
            self.roots[label] = (pid, children)
            self._last_scan = 0.0

    def _proc(self, pid: int) -> Any:
        p = self._procs.get(pid)
        if p is None:
            p = self._procs[pid] = self.psutil.Process(pid)
        return p

    def _scan(self) -> None:
        ps = self.psutil
        kids: dict[int, list[int]] = defaultdict(list)
        for p in ps.process_iter(["ppid", "name"]):
            kids[p.info["ppid"]].append(p.pid)
            if self.pg_dbname is None or p.info["name"] != "postgres" or p.pid in self._pg_seen:
                continue
            self._pg_seen.add(p.pid)
            with contextlib.suppress(ps.Error):
                cmd = " ".join(p.cmdline())
                if f" {self.pg_dbname} " in cmd:
                    self.pg_pids[p.pid] = "postgres backend"
                elif re.search(r"(walwriter|checkpointer|background writer)", cmd):
                    self.pg_pids[p.pid] = "postgres " + cmd.rsplit(":", 1)[-1].strip()
        with self._lock:
            roots = dict(self.roots)
        groups = []
        for label, (pid, with_children) in roots.items():
            tree, todo = [], list(kids.get(pid, [])) if with_children else []
            while todo:
                child = todo.pop()
                tree.append(child)
                todo += kids.get(child, [])
            groups.append(
                (
                    label,
                    [(label, pid)] + [(f"{label}[{i + 1}]", c) for i, c in enumerate(sorted(tree))],
                )
            )
        groups += [(label, [(label, pid)]) for pid, label in self.pg_pids.items()]
        self._groups = groups

    def sample(self) -> None:
        ps = self.psutil
        now = time.monotonic()
        if now - self._last_scan > 1.0:
            self._last_scan = now
            self._scan()
        for root_label, members in self._groups:
            total = 0
            for label, pid in members:
                try:
                    p = self._proc(pid)
                    with p.oneshot():
                        rss = p.memory_info().rss
                        t = p.cpu_times()
                        cpu = t.user + t.system
                        created = p.create_time()
                except ps.Error:
                    continue
                st = self.stats.get(pid)
                if st is None:
                    st = self.stats[pid] = ProcStat(label, pid, created=created)
                st.peak_rss = max(st.peak_rss, rss)
                st.cpu_last = cpu
                total += rss
            self.tree_peak[root_label] = max(self.tree_peak[root_label], total)

    def mark_start(self) -> None:
        """CPU used before this moment does not count (boot, imports, migrations)."""
        self._last_scan = 0.0
        self.sample()
        for st in self.stats.values():
            st.cpu_first = st.cpu_last

    def run(self) -> None:
        while not self._halt.wait(SAMPLE_EVERY):
            try:
                self.sample()
            except Exception as e:  # never let sampling kill the run
                print(f"sampler: {e!r}", file=sys.stderr)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)
        self._last_scan = 0.0
        self.sample()


# --- the run ----------------------------------------------------------------------------------


def procfile(path: Path) -> dict[str, list[str]]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#") and ":" in line:
            name, cmd = line.split(":", 1)
            out[name.strip()] = shlex.split(cmd)
    return out


def with_option(argv: list[str], option: str, value: Any) -> list[str]:
    argv = list(argv)
    if option in argv:
        argv[argv.index(option) + 1] = str(value)
    else:
        argv += [option, str(value)]
    return argv


def resolve(argv: list[str]) -> list[str]:
    exe = BIN / argv[0]
    return [str(exe) if exe.exists() else argv[0], *argv[1:]]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def dist(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "p50": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def load_mails(which: str, n: int, seed: int) -> list[Any]:
    """bench/mailgen.py (a few KB each, HTML parts, attachments) or tests/mailgen.py (short)."""
    from bench.mailgen import GeneratedMail, generate

    if which == "tests":
        from tests.mailgen import complaints

        return [
            GeneratedMail(m.message_id, m.from_addr, m.flavour, m.raw)
            for m in complaints(n, seed=seed)
        ]
    return generate(n, seed=seed)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="cdbench-"))
        self.tmp.chmod(0o755)  # Dovecot's unprivileged processes must reach it
        (self.tmp / "logs").mkdir()
        self.cleanups: list[tuple[str, Any]] = []
        self.procs: dict[str, subprocess.Popen] = {}
        self.sampler: Sampler | None = None
        self.db_url = ""
        self.figures: dict[str, Any] = {}

    # lifecycle

    def cleanup(self) -> None:
        if self.sampler is not None:
            with contextlib.suppress(Exception):
                self.sampler.stop()
            self.sampler = None
        for name, proc in reversed(list(self.procs.items())):
            try:
                self._stop_proc(name, proc)
            except Exception as e:
                print(f"stopping {name} failed: {e!r}", file=sys.stderr)
        if self.args.logs:
            dest = Path(self.args.logs)
            dest.mkdir(parents=True, exist_ok=True)
            for f in (self.tmp / "logs").iterdir():
                shutil.copy(f, dest / f.name)
            with contextlib.suppress(OSError):
                shutil.copy(self.tmp / "sink.tsv", dest / "sink.tsv")
        while self.cleanups:
            what, fn = self.cleanups.pop()
            try:
                fn()
            except Exception as e:
                print(f"cleanup of {what} failed: {e!r}", file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)

    @staticmethod
    def _stop_proc(name: str, proc: subprocess.Popen, timeout: float = 15.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"{name} ignored SIGTERM for {timeout} s: killing", file=sys.stderr)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, stdout: Any = None
    ) -> subprocess.Popen:
        setpriv = shutil.which("setpriv")
        prefix = [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []
        log = (self.tmp / "logs" / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            prefix + argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout or log,
            stderr=log,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.tmp / "logs" / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # servers

    def start_servers(self) -> dict[str, str]:
        from tests.servers import (
            create_pg_database,
            drop_pg_database,
            free_port,
            start_dovecot,
            start_redis,
        )

        t = time.monotonic()
        dovecot = start_dovecot(self.tmp / "dovecot")
        self.cleanups.append(("dovecot", dovecot.stop))
        self.mailbox = dovecot.new_mailbox("intake")
        self.dovecot = dovecot
        redis = start_redis(self.tmp / "redis")
        self.cleanups.append(("redis", redis.stop))
        self.redis = redis

        port = free_port()
        sink = self.spawn(
            "sink",
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--sink-port",
                str(port),
                "--sink-log",
                str(self.tmp / "sink.tsv"),
            ],
            stdout=subprocess.PIPE,
        )
        if sink.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"SMTP sink did not start:\n{self.log_tail('sink')}")
        self.sink_port = port

        if self.args.db == "postgres":
            self.db_url = create_pg_database(prefix="cdbench")
            self.cleanups.append(("database", lambda: drop_pg_database(self.db_url)))
        else:
            self.db_url = f"sqlite:///{self.tmp / 'bench.db'}"
        print(
            f"servers up in {time.monotonic() - t:.1f} s: dovecot :{dovecot.port}, "
            f"redis :{redis.port}, smtp sink :{port}, db {self.db_url.split('@')[-1]}"
        )

        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINTDESK_")}
        env.update(
            {
                "COMPLAINTDESK_DATABASE_URL": self.db_url,
                "COMPLAINTDESK_BROKER_URL": redis.url,
                "COMPLAINTDESK_IMAP__HOST": HOST,
                "COMPLAINTDESK_IMAP__PORT": str(self.mailbox.port),
                "COMPLAINTDESK_IMAP__USERNAME": self.mailbox.user,
                "COMPLAINTDESK_IMAP__PASSWORD": self.mailbox.password,
                "COMPLAINTDESK_IMAP__SSL": "false",
                "COMPLAINTDESK_SMTP__HOST": HOST,
                "COMPLAINTDESK_SMTP__PORT": str(port),
                "COMPLAINTDESK_SMTP__STARTTLS": "false",  # the loopback sink offers no TLS
                "COMPLAINTDESK_INTAKE_ADDRESS": INTAKE,
                "COMPLAINTDESK_SECRET_KEY": "bench-" + os.urandom(16).hex(),
                "COMPLAINTDESK_ATTACHMENTS_DIR": str(self.tmp / "attachments"),
            }
        )
        for item in self.args.env:
            key, _, value = item.partition("=")
            env[key] = value
        (self.tmp / "env.sh").write_text(
            "".join(
                f"export {k}={shlex.quote(v)}\n"
                for k, v in env.items()
                if k.startswith("COMPLAINTDESK_")
            ),
            encoding="utf-8",
        )
        return env

    def start_pipeline(self, env: dict[str, str]) -> dict[str, list[str]]:
        t = time.monotonic()
        subprocess.run(
            [str(BIN / "complaintdesk"), "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        print(f"complaintdesk db upgrade: {time.monotonic() - t:.1f} s")
        commands = procfile(ROOT / "Procfile")
        worker = commands["worker"]
        if self.args.processes is not None:
            worker = with_option(worker, "--processes", self.args.processes)
        if self.args.threads is not None:
            worker = with_option(worker, "--threads", self.args.threads)
        commands["worker"] = worker
        self.processes = (
            int(worker[worker.index("--processes") + 1])
            if "--processes" in worker
            else os.cpu_count()
        )
        self.threads = int(worker[worker.index("--threads") + 1]) if "--threads" in worker else 8
        for name in ("worker", "poller"):
            proc = self.spawn(name, resolve(commands[name]), env=env)
            self.sampler.watch(name, proc.pid)
        self.wait_ready()
        print(
            f"pipeline ready in {time.monotonic() - t:.1f} s: "
            f"{' '.join(commands['poller'])} | {' '.join(commands['worker'])}"
        )
        return commands

    def wait_ready(self, timeout: float = 90.0) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.db_url)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                for name, proc in self.procs.items():
                    if proc.poll() is not None:
                        raise RuntimeError(
                            f"{name} exited ({proc.returncode}) while starting:\n"
                            f"{self.log_tail(name)}"
                        )
                ready = self.log_tail("worker", 10_000).count("Worker process is ready for action")
                with engine.connect() as conn:
                    cursor = conn.execute(text("SELECT count(*) FROM mailbox_cursor")).scalar()
                if ready >= self.processes and cursor:
                    time.sleep(1.0)  # the poller is now entering IDLE
                    return
                time.sleep(0.2)
        finally:
            engine.dispose()
        raise TimeoutError(
            f"pipeline not ready in {timeout} s:\n{self.log_tail('worker')}\n"
            f"{self.log_tail('poller')}"
        )

    # the measurement

    def append_all(self, mails: list[Any]) -> dict[str, float]:
        """APPEND every mail; returns Message-ID -> monotonic time the server confirmed it."""
        appended: dict[str, float] = {}
        k = max(1, self.args.append_connections)
        errors: list[BaseException] = []

        def worker(part: list[Any]) -> None:
            try:
                with self.mailbox.client() as imap:
                    for mail in part:
                        imap.append("INBOX", mail.raw)
                        appended[mail.message_id] = time.monotonic()
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(mails[i::k],)) for i in range(k)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return appended

    def idle_cpu(self, seconds: float) -> dict[str, float]:
        """CPU the processes use with nothing to do (broker polling, heartbeats), in % of a core.

        First waits (up to 20 s) for the start-up work that follows "ready" to end: the worker
        processes use a fifth of a core for a few seconds after it.
        """

        def busy(window: float) -> float:
            self.sampler.mark_start()
            time.sleep(window)
            self.sampler.sample()
            return (
                sum(
                    st.cpu_last - (st.cpu_first or 0.0)
                    for st in self.sampler.stats.values()
                    if st.label.startswith(("worker", "poller"))
                )
                / window
            )

        deadline = time.monotonic() + 20
        while busy(0.5) > 0.05 and time.monotonic() < deadline:
            pass
        self.sampler.mark_start()
        time.sleep(seconds)
        self.sampler._last_scan = 0.0
        self.sampler.sample()
        out: dict[str, float] = defaultdict(float)
        for st in self.sampler.stats.values():
            group = "postgres" if st.label.startswith("postgres") else st.label.split("[")[0]
            out[group] += 100 * (st.cpu_last - (st.cpu_first or 0.0)) / seconds
        return {k: round(v, 1) for k, v in out.items() if k != "bench"}

    def wait_for_acks(self, sink: SinkLog, expected: set[str]) -> float | None:
        deadline = time.monotonic() + self.args.timeout
        last_progress = time.monotonic()
        got: set[str] = set()
        shown = time.monotonic()
        while True:
            new = sink.read()
            if new:
                last_progress = time.monotonic()
                got.update(a.in_reply_to for a in new if a.in_reply_to in expected)
            now = time.monotonic()
            if got >= expected:
                return max(a.arrived for a in sink.acks if a.in_reply_to in expected)
            if now - shown > 5:
                shown = now
                print(f"  … {len(got)}/{len(expected)} acknowledged", flush=True)
            for name in ("poller", "worker"):
                if self.procs[name].poll() is not None:
                    print(f"{name} died ({self.procs[name].returncode}):\n{self.log_tail(name)}")
                    return None
            if now > deadline or now - last_progress > self.args.stall:
                print(
                    f"giving up: {len(got)}/{len(expected)} acknowledged "
                    f"({'timeout' if now > deadline else f'no progress for {self.args.stall} s'})"
                )
                return None
            time.sleep(0.2)  # arrival times come from the sink itself

    def run(self) -> dict[str, Any]:
        import psutil

        args = self.args
        t = time.monotonic()
        mails = load_mails(args.mailgen, args.n, args.seed)
        sizes = [len(m.raw) for m in mails]
        print(
            f"generated {len(mails)} mails in {time.monotonic() - t:.1f} s: "
            f"median {statistics.median(sizes) / 1024:.1f} KB, total {sum(sizes) / 2**20:.1f} MB, "
            f"{sum(b'Content-Disposition: attachment' in m.raw for m in mails)} with an attachment, "
            f"{dict(Counter(m.kind for m in mails))}"
        )
        env = self.start_servers()
        pg_name = self.db_url.rsplit("/", 1)[-1] if args.db == "postgres" else None
        self.sampler = Sampler(pg_name)
        self.sampler.watch("sink", self.procs["sink"].pid)
        self.sampler.watch("redis", self.redis.proc.pid)
        self.sampler.watch("dovecot", self.dovecot.proc.pid)
        self.sampler.watch("bench", os.getpid(), children=False)
        self.sampler.start()
        commands = self.start_pipeline(env)

        sink = SinkLog(self.tmp / "sink.tsv")
        sink.read()
        load_before = os.getloadavg()
        print(
            f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} "
            f"{load_before[2]:.2f} ({os.cpu_count()} cores)"
        )
        idle = self.idle_cpu(args.idle) if args.idle > 0 else {}
        cpu_before = psutil.cpu_times()
        self.sampler.mark_start()
        wall0 = time.time() - time.monotonic()  # monotonic -> wall clock (for the rows' timestamps)
        t0, c0 = time.monotonic(), time.process_time()
        appended = self.append_all(mails)
        t_appended, c1 = time.monotonic(), time.process_time()
        print(
            f"appended {len(appended)} mails in {t_appended - t0:.2f} s "
            f"({len(appended) / (t_appended - t0):.0f}/s, {args.append_connections} connection(s))"
        )
        expected = {m.message_id for m in mails}
        t_last = self.wait_for_acks(sink, expected)
        t_done, c2 = time.monotonic(), time.process_time()
        self.bench_cpu = {"append_s": c1 - c0, "wait_s": c2 - c1}
        cpu_after = psutil.cpu_times()
        load_after = os.getloadavg()
        time.sleep(args.settle)  # late duplicates would arrive now
        sink.read()
        self.sampler.stop()
        stats = self.sampler
        self.sampler = None

        figures = self.collect(mails, appended, sink, t0, t_appended, t_last, t_done, wall0)
        busy = lambda c: c.user + c.system + c.nice + c.irq + c.softirq + c.steal  # noqa: E731
        window = t_done - t0
        ours = sum((st.cpu_last - (st.cpu_first or 0.0)) for st in stats.stats.values())
        figures["machine"] = {
            "cores": os.cpu_count(),
            "load_before": load_before,
            "load_after": load_after,
            "busy_core_seconds": busy(cpu_after) - busy(cpu_before),
            "ours_core_seconds": ours,
            "others_core_seconds": busy(cpu_after) - busy(cpu_before) - ours,
            "window_s": window,
        }
        figures["processes"] = [
            {
                "label": st.label,
                "pid": st.pid,
                "peak_rss_mb": st.peak_rss / 2**20,
                "cpu_s": st.cpu_last - (st.cpu_first or 0.0),
            }
            for st in sorted(stats.stats.values(), key=lambda s: (s.label.split("[")[0], s.label))
        ]
        figures["trees"] = {label: peak / 2**20 for label, peak in stats.tree_peak.items()}
        done = max(1, figures["correctness"]["acked_complaints"])
        per_group: dict[str, float] = defaultdict(float)
        for p in figures["processes"]:
            group = "postgres" if p["label"].startswith("postgres") else p["label"].split("[")[0]
            per_group[group] += p["cpu_s"]
        cpu_ms = {g: 1000 * c / done for g, c in sorted(per_group.items(), key=lambda x: -x[1])}
        needed = sum(v for g, v in cpu_ms.items() if g != "bench")
        figures["cpu_ms_per_mail"] = cpu_ms
        # Every process this run needs except the bench itself; if they had the cores to
        # themselves, CPU alone would cap the throughput here.
        figures["cpu_bound_ceiling"] = (os.cpu_count() or 1) * 1000 / needed if needed else None
        figures["bench_cpu"] = self.bench_cpu
        figures["idle_cpu_percent"] = idle
        figures["config"] = {
            "n": args.n,
            "db": args.db,
            "mailgen": args.mailgen,
            "processes": self.processes,
            "threads": self.threads,
            "poller": commands["poller"],
            "worker": commands["worker"],
            "env": args.env,
            "seed": args.seed,
        }
        errors = self.log_tail("worker", 100_000)
        figures["worker_log"] = {
            "tracebacks": errors.count("Traceback (most recent call last)"),
            "errors": len(re.findall(r"\] \[ERROR\]|\bERROR\b", errors)),
            "warnings": len(re.findall(r"\bWARNING\b", errors)),
            # rows the pipeline lost track of and the sweeper had to enqueue again
            "sweeper_reenqueued_mails": sum(
                int(x) for x in re.findall(r"sweeper re-enqueued (\d+) mails", errors)
            ),
            "sweeper_reenqueued_replies": sum(
                int(x)
                for x in re.findall(r"sweeper re-enqueued \d+ mails and (\d+) replies", errors)
            ),
        }
        poller_log = self.log_tail("poller", 100_000)
        figures["poller_log"] = {
            "warnings": len(re.findall(r"\bWARNING\b", poller_log)),
            "first_warnings": [line[:200] for line in poller_log.splitlines() if "WARNING" in line][
                :3
            ],
        }
        return figures

    def collect(
        self,
        mails: list[Any],
        appended: dict[str, float],
        sink: SinkLog,
        t0: float,
        t_appended: float,
        t_last: float | None,
        t_done: float,
        wall0: float,
    ) -> dict[str, Any]:
        from sqlalchemy import create_engine, text

        expected = {m.message_id: m for m in mails}
        acks_by: dict[str, list[Ack]] = defaultdict(list)
        unexpected = []
        staff = staff_addresses()
        notices = 0
        for a in sink.acks:
            if a.in_reply_to in expected:
                acks_by[a.in_reply_to].append(a)
            elif not a.in_reply_to and a.rcpt.lower() in staff:
                notices += 1  # routing's notices to staff and leadership: no reply to anyone
            else:
                unexpected.append(a)
        first_ack = {mid: min(a.arrived for a in acks) for mid, acks in acks_by.items()}
        latency = [first_ack[mid] - appended[mid] for mid in first_ack if mid in appended]
        dup_acks = {mid: len(acks) for mid, acks in acks_by.items() if len(acks) > 1}
        wrong_rcpt = [
            mid
            for mid, acks in acks_by.items()
            if any(a.rcpt.lower() != expected[mid].sender.lower() for a in acks)
        ]
        end = t_last if t_last is not None else t_done
        done = len(first_ack)
        arrivals = sorted(first_ack.values())
        steady = None
        if len(arrivals) >= 20:
            a, b = arrivals[len(arrivals) // 10], arrivals[len(arrivals) * 9 // 10]
            steady = (len(arrivals) * 8 // 10) / (b - a) if b > a else None

        engine = create_engine(self.db_url)
        q = lambda sql: conn.execute(text(sql)).all()  # noqa: E731
        with engine.connect() as conn:
            cases = conn.execute(text('SELECT count(*) FROM "case"')).scalar()
            classified = conn.execute(
                text('SELECT count(*) FROM "case" WHERE category IS NOT NULL')
            ).scalar()
            raw_status = dict(
                Counter(
                    {
                        f"{s}/{d}": c
                        for s, d, c in q(
                            "SELECT status, disposition, count(*) FROM raw_message GROUP BY status, disposition"
                        )
                    }
                )
            )
            out_status = {
                f"{k}/{s}": c
                for k, s, c in q(
                    "SELECT kind, status, count(*) FROM outbound_email GROUP BY kind, status"
                )
            }
            dup_raw = q(
                "SELECT message_id, count(*) FROM raw_message GROUP BY message_id "
                "HAVING count(*) > 1"
            )
            dup_cases = q(
                "SELECT message_id, count(DISTINCT case_id) FROM message WHERE "
                "direction = 'in' GROUP BY message_id HAVING count(DISTINCT case_id) > 1"
            )
            dup_out = q(
                "SELECT case_id, count(*) FROM outbound_email WHERE kind = "
                "'acknowledgement' GROUP BY case_id HAVING count(*) > 1"
            )
            attempts = q("SELECT attempts, count(*) FROM raw_message GROUP BY attempts")
            rows = q(
                "SELECT r.message_id, r.received_at, r.processed_at, o.created_at, o.sent_at, "
                "r.id, r.uid, r.attempts "
                "FROM raw_message r LEFT JOIN outbound_email o ON o.case_id = r.case_id "
                "AND o.kind = 'acknowledgement'"
            )
            reasons = q(
                "SELECT reason, count(*) FROM raw_message WHERE disposition <> 'case' "
                "GROUP BY reason ORDER BY count(*) DESC LIMIT 5"
            )
        engine.dispose()

        # Where the latency goes, from the rows' wall-clock stamps (same machine clock).
        def mono(dt: Any) -> float | None:
            if dt is None:
                return None
            if isinstance(dt, str):  # SQLite hands raw SQL timestamps back as text
                dt = datetime.fromisoformat(dt)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            return dt.timestamp() - wall0

        stages: dict[str, list[float]] = defaultdict(list)
        stored_at = []
        slowest = []
        for mid, received, processed, _created, sent, raw_id, uid, attempts_ in rows:
            if mid not in appended:
                continue
            r, p, s = mono(received), mono(processed), mono(sent)
            ack = first_ack.get(mid)
            slowest.append(
                {
                    "message_id": mid,
                    "raw_id": raw_id,
                    "imap_uid": uid,
                    "attempts": attempts_,
                    "appended": appended[mid] - t0,
                    "stored": r - t0 if r is not None else None,
                    "ingested": p - t0 if p is not None else None,
                    "sent": s - t0 if s is not None else None,
                    "acked": ack - t0 if ack is not None else None,
                    "latency": ack - appended[mid] if ack is not None else None,
                }
            )
            if r is not None:
                stages["append → stored (poller)"].append(r - appended[mid])
                stored_at.append(r)
            if r is not None and p is not None:
                stages["stored → ingested (queue + ingest)"].append(p - r)
            if p is not None and mid in first_ack:
                stages["ingested → at sink (outbox + SMTP)"].append(first_ack[mid] - p)
            if s is not None and p is not None:
                stages["ingested → marked sent"].append(s - p)

        return {
            "n": len(mails),
            "appended": len(appended),
            "append_s": t_appended - t0,
            "append_rate": len(appended) / (t_appended - t0) if t_appended > t0 else None,
            "elapsed_s": end - t0,
            "throughput": done / (end - t0) if done else 0.0,
            "steady_throughput": steady,
            "all_stored_s": (max(stored_at) - t0) if stored_at else None,
            "latency_s": dist(latency),
            "stages_s": {k: dist(v) for k, v in stages.items()},
            # seconds after the first append, for the five slowest mails
            "slowest": sorted(slowest, key=lambda x: -(x["latency"] or 1e9))[:5],
            "correctness": {
                "cases": cases,
                "classified": classified,
                "acks_received": len(sink.acks),
                "acked_complaints": done,
                "staff_notices_received": notices,
                "missing_acks": sorted(set(expected) - set(first_ack))[:50],
                "missing_count": len(set(expected) - set(first_ack)),
                "duplicate_acks": dup_acks,
                "unexpected_mail": [a.in_reply_to for a in unexpected][:20],
                "wrong_recipient": wrong_rcpt[:20],
                "raw_status": raw_status,
                "outbound": out_status,
                "duplicate_raw_rows": [list(r) for r in dup_raw][:20],
                "message_ids_in_several_cases": [list(r) for r in dup_cases][:20],
                "cases_with_several_acks": [list(r) for r in dup_out][:20],
                "ingest_attempts": {int(a): c for a, c in attempts},
                "not_case_reasons": [list(r) for r in reasons],
            },
        }


# --- output -----------------------------------------------------------------------------------


def print_report(f: dict[str, Any]) -> None:
    c, m, cfg = f["correctness"], f["machine"], f["config"]
    ms = lambda s: f"{s * 1000:8.0f} ms" if s == s else "     n/a"  # noqa: E731
    print()
    print(
        f"complaintdesk intake benchmark — N={f['n']}, {cfg['db']}, worker --processes "
        f"{cfg['processes']} --threads {cfg['threads']}"
        + (f", {' '.join(cfg['env'])}" if cfg["env"] else "")
    )
    print(
        f"machine: {m['cores']} cores, load {m['load_before'][0]:.2f} before / "
        f"{m['load_after'][0]:.2f} after; during the run {m['busy_core_seconds'] / m['window_s']:.2f} "
        f"cores busy, of which {m['others_core_seconds'] / m['window_s']:.2f} not ours"
    )
    print("─" * 78)
    print(
        f"{'appended':34} {f['appended']:>8} mails in {f['append_s']:.2f} s "
        f"({f['append_rate']:.0f}/s)"
    )
    if f["all_stored_s"] is not None:
        print(f"{'all stored by the poller after':34} {f['all_stored_s']:8.2f} s")
    print(f"{'first append → last ack':34} {f['elapsed_s']:8.2f} s")
    print(f"{'THROUGHPUT (end to end)':34} {f['throughput']:8.1f} mails/s")
    if f["steady_throughput"]:
        print(f"{'  steady (10 %–90 % of acks)':34} {f['steady_throughput']:8.1f} mails/s")
    lat = f["latency_s"]
    if lat:
        print(f"{'latency append → ack   p50':34} {ms(lat['p50'])}")
        print(f"{'                       p95':34} {ms(lat['p95'])}")
        print(f"{'                       max':34} {ms(lat['max'])}")
    print("─" * 78)
    print(f"{'stage (from row timestamps)':40} {'p50':>11} {'p95':>11} {'max':>11}")
    for name, d in f["stages_s"].items():
        if d:
            print(f"{name:40} {ms(d['p50'])} {ms(d['p95'])} {ms(d['max'])}")
    print("─" * 78)
    print(f"{'process':28} {'pid':>8} {'peak RSS':>10} {'CPU s':>8} {'CPU % of run':>13}")
    for p in f["processes"]:
        if p["cpu_s"] < 0.05 and p["label"].startswith("postgres") and p["peak_rss_mb"] < 1:
            continue
        print(
            f"{p['label']:28} {p['pid']:>8} {p['peak_rss_mb']:7.1f} MB {p['cpu_s']:8.1f} "
            f"{100 * p['cpu_s'] / m['window_s']:12.0f}%"
        )
    for label, mb in f["trees"].items():
        if label in ("worker", "dovecot"):
            print(f"{'  ' + label + ' tree, peak of sum':28} {'':>8} {mb:7.1f} MB")
    cpu = f["cpu_ms_per_mail"]
    print("CPU per acknowledged mail: " + ", ".join(f"{g} {v:.1f} ms" for g, v in cpu.items()))
    if f["cpu_bound_ceiling"]:
        print(
            f"  all but the bench: {sum(v for g, v in cpu.items() if g != 'bench'):.1f} ms/mail → "
            f"CPU-bound ceiling on {m['cores']} idle cores ≈ {f['cpu_bound_ceiling']:.0f} mails/s"
        )
    if f.get("idle_cpu_percent"):
        print(
            "idle CPU before the run (% of a core): "
            + ", ".join(f"{g} {v:.1f}" for g, v in f["idle_cpu_percent"].items())
        )
    print("─" * 78)
    ok = (
        c["cases"] == f["n"]
        and c["acked_complaints"] == f["n"]
        and not c["duplicate_acks"]
        and not c["unexpected_mail"]
        and not c["message_ids_in_several_cases"]
        and not c["cases_with_several_acks"]
        and not c["wrong_recipient"]
    )
    print(
        f"correctness: {'OK' if ok else 'PROBLEMS'} — cases {c['cases']}/{f['n']}, acknowledged "
        f"{c['acked_complaints']}/{f['n']}, acks received {c['acks_received']}, duplicates "
        f"{len(c['duplicate_acks'])}, missing {c['missing_count']}"
    )
    print(
        f"  raw_message: {c['raw_status']}   outbound: {c['outbound']}   "
        f"cases classified by the end: {c['classified']}"
    )
    print(
        f"  ingest attempts: {c['ingest_attempts']}   worker log: {f['worker_log']}   "
        f"poller log: {f['poller_log']['warnings']} warnings"
    )
    for line in f["poller_log"]["first_warnings"]:
        print(f"    {line}")
    for key in (
        "duplicate_acks",
        "unexpected_mail",
        "wrong_recipient",
        "duplicate_raw_rows",
        "message_ids_in_several_cases",
        "cases_with_several_acks",
        "not_case_reasons",
    ):
        if c[key]:
            print(f"  {key}: {c[key]}")
    slow = f["slowest"][0] if f["slowest"] else None
    if slow and lat and slow["latency"] and slow["latency"] > 3 * lat["p95"]:
        print(f"  slowest mail (s after first append): {slow}")
    if c["missing_count"]:
        print(f"  missing ({c['missing_count']}): {c['missing_acks'][:10]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="complaints to send (1000)")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--processes", type=int, help="worker --processes (Procfile's by default)")
    parser.add_argument("--threads", type=int, help="worker --threads (Procfile's by default)")
    parser.add_argument("--keep", action="store_true", help="leave servers and processes up")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="also dump the figures as JSON (to PATH, or stdout)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the pipeline, e.g. COMPLAINTDESK_IMAP__FETCH_BATCH=500",
    )
    parser.add_argument(
        "--append-connections", type=int, default=1, help="IMAP connections appending"
    )
    parser.add_argument("--seed", type=int, default=20261116)
    parser.add_argument(
        "--mailgen",
        choices=["bench", "tests"],
        default="bench",
        help="bench/mailgen.py (a few KB, default) or tests/mailgen.py (~0.5 KB)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after (s)")
    parser.add_argument(
        "--stall",
        type=float,
        default=150.0,
        help="give up after this long without a new acknowledgement (s)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=2.0,
        help="wait this long after the last ack for duplicates (s)",
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=3.0,
        help="measure the processes' idle CPU for this long before appending (s)",
    )
    parser.add_argument("--logs", metavar="DIR", help="copy the processes' logs here at exit")
    parser.add_argument("--sink-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sink-log", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sink_port:
        run_sink(args.sink_port, args.sink_log)
        return 0

    bench = Bench(args)

    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    try:
        figures = bench.run()
        report(args, bench, figures)
        if args.keep:
            signal.pause()
    except KeyboardInterrupt:
        print("stopping; cleaning up", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # finish the cleanup
        bench.cleanup()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return 0 if figures["correctness"]["acked_complaints"] == args.n else 1


def report(args: argparse.Namespace, bench: Bench, figures: dict[str, Any]) -> None:
    print_report(figures)
    if args.keep:
        # The servers die with this process (pdeathsig), so "keep" means: stay here until asked.
        print(
            f"\n--keep: servers and processes stay up until Ctrl-C; logs in {bench.tmp}/logs, "
            f"environment: source {bench.tmp}/env.sh"
        )
        for name, proc in bench.procs.items():
            print(f"  {name}: pid {proc.pid}")
        print(
            f"  dovecot :{bench.dovecot.port} user {bench.mailbox.user} password "
            f"{bench.mailbox.password}; redis {bench.redis.url}; database {bench.db_url}"
        )
    if args.json:
        text = json.dumps(figures, ensure_ascii=False, indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
            print(f"figures written to {args.json}")


if __name__ == "__main__":
    sys.exit(main())
