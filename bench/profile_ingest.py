"""Where a worker's time goes: the poller's and the actors' code in one process, stage by stage.

    uv run python bench/profile_ingest.py                 # N=300 on PostgreSQL
    uv run python bench/profile_ingest.py --db sqlite --n 200 --top 40 --prof /tmp/ingest.prof

Single-threaded and without Dramatiq, so each figure is CPU + I/O wait per mail of our own code:
the floor under what a worker thread spends. Three passes over generated complaints
(bench/mailgen.py), each on fresh mails:

1. poller: the mails APPENDed to a private Dovecot, then one `Poller.poll()` (UID SEARCH,
   FETCH BODY.PEEK[] in batches, store_batch, flagging) with a no-op enqueue, timed.
2. stages: every stored mail through the ingest actor's function and the sender's, with timers
   around the named stages (claim, parse, screen, correlate, open case, deadlines, render,
   compose, the outbox row, commits, SMTP to an aiosmtpd sink in a child process).
3. cProfile of pass 2's work on another batch: the top functions by own time and by cumulative.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import io
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TIMES: dict[str, list[float]] = defaultdict(list)
STATEMENTS: dict[str, int] = defaultdict(int)  # SQL statements sent while a stage ran
_stack: list[str] = []


def count_statement(*_: Any) -> None:
    STATEMENTS["(all)"] += 1
    for name in set(_stack):
        STATEMENTS[name] += 1


def timed(name: str, fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        _stack.append(name)
        try:
            return fn(*args, **kwargs)
        finally:
            _stack.pop()
            TIMES[name].append(time.perf_counter() - t)

    wrapper.__wrapped_by_bench__ = fn
    return wrapper


def patch(module: Any, attr: str, name: str) -> None:
    if hasattr(module, attr):
        setattr(module, attr, timed(name, getattr(module, attr)))


def unpatch(module: Any, attr: str) -> None:
    fn = getattr(module, attr, None)
    if fn is not None and hasattr(fn, "__wrapped_by_bench__"):
        setattr(module, attr, fn.__wrapped_by_bench__)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--prof", help="also write the cProfile data here (for snakeviz, pstats)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--wall", action="store_true", help="profile elapsed time, not CPU time")
    args = parser.parse_args()

    from bench.intake import HOST
    from bench.mailgen import generate
    from tests.servers import create_pg_database, drop_pg_database, free_port, start_dovecot

    tmp = Path(tempfile.mkdtemp(prefix="cdbench-prof-"))
    tmp.chmod(0o755)
    cleanups: list[Any] = []
    try:
        dovecot = start_dovecot(tmp / "dovecot")
        cleanups.append(dovecot.stop)
        box = dovecot.new_mailbox("prof")
        port = free_port()
        sink = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "intake.py"),
                "--sink-port",
                str(port),
                "--sink-log",
                str(tmp / "sink.tsv"),
            ],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        cleanups.append(lambda: (sink.terminate(), sink.wait()))
        assert sink.stdout.readline().strip() == b"ready"
        if args.db == "postgres":
            db_url = create_pg_database(prefix="cdbench")
            cleanups.append(lambda: drop_pg_database(db_url))
        else:
            db_url = f"sqlite:///{tmp / 'prof.db'}"
        os.environ.update(
            {
                "COMPLAINTDESK_DATABASE_URL": db_url,
                "COMPLAINTDESK_BROKER_URL": "stub",
                "COMPLAINTDESK_IMAP__HOST": HOST,
                "COMPLAINTDESK_IMAP__PORT": str(box.port),
                "COMPLAINTDESK_IMAP__USERNAME": box.user,
                "COMPLAINTDESK_IMAP__PASSWORD": box.password,
                "COMPLAINTDESK_IMAP__SSL": "false",
                "COMPLAINTDESK_SMTP__HOST": HOST,
                "COMPLAINTDESK_SMTP__PORT": str(port),
                "COMPLAINTDESK_SMTP__STARTTLS": "false",  # the loopback sink offers no TLS
                "COMPLAINTDESK_SECRET_KEY": "profile-" + os.urandom(24).hex(),
                "COMPLAINTDESK_ATTACHMENTS_DIR": str(tmp / "attachments"),
            }
        )
        for key in [k for k in os.environ if k.startswith("COMPLAINTDESK_OUTBOX")]:
            del os.environ[key]
        return run(args, db_url, box, generate)
    finally:
        for fn in reversed(cleanups):
            with contextlib.suppress(Exception):
                fn()
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, db_url: str, box: Any, generate: Any) -> int:
    import sqlalchemy.orm

    import workers.intake.ingest as ingest_mod
    import workers.outbound.outbox as outbox_mod
    import workers.outbound.sender as sender_mod
    from config.settings import get_settings
    from models.migrate import upgrade
    from workers import wiring
    from workers.app import App
    from workers.intake.poller import Poller

    t = time.perf_counter()
    upgrade(db_url)
    print(
        f"db upgrade {time.perf_counter() - t:.1f} s; load {os.getloadavg()[0]:.2f} "
        f"({os.cpu_count()} cores)"
    )
    app = App.from_settings(get_settings())
    wiring.start(app)
    mails = generate(3 * args.n, seed=args.seed)
    n = args.n

    # --- pass 1: the poller ------------------------------------------------------------------
    with box.client() as imap:
        for mail in mails[:n]:
            imap.append("INBOX", mail.raw)
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "before_cursor_execute", count_statement)
    stored: list[int] = []
    poller = Poller(app, stored.extend)
    imap_session = poller.session()  # keep a reference: collecting it would log out
    imap = imap_session.__enter__()  # connect + login, outside the timing
    cpu, t = time.process_time(), time.perf_counter()
    count = poller.poll(imap)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    print(
        f"\npass 1 — poller.poll(): {count} mails in {wall:.2f} s = {1000 * wall / count:.1f} ms/mail "
        f"wall, {1000 * cpu / count:.1f} ms/mail CPU in this process "
        f"(fetch batch {app.settings.imap.fetch_batch}), "
        f"{STATEMENTS['(all)'] / count:.1f} SQL statements/mail"
    )

    # --- pass 2: ingest + send, stage timers ---------------------------------------------------
    for module, attr, name in [
        (ingest_mod, "claim", "claim (tx 1: attempts+1)"),
        (ingest_mod, "parse_mail", "parse_mail"),
        (ingest_mod, "screen_mail", "screen_mail"),
        (ingest_mod, "correlate", "correlate"),
        (ingest_mod, "open_case", "open_case (+message, attachments)"),
        (ingest_mod, "on_case_opened", "on_case_opened (deadlines)"),
        (ingest_mod, "acknowledge", "acknowledge (render+compose+row)"),
        (outbox_mod, "render_reply", "  render_reply (jinja)"),
        (outbox_mod, "compose", "  compose (email pkg)"),
        (ingest_mod, "enqueue_next", "enqueue_next (stub broker)"),
        (sender_mod, "deliver", "  deliver (SMTP)"),
    ]:
        patch(module, attr, name)
    real_commit = sqlalchemy.orm.Session.commit
    sqlalchemy.orm.Session.commit = timed("session.commit (all)", real_commit)

    def send_fn(outbound_id: int) -> None:  # the send_outbound actor's work
        sender_mod.send(app, outbound_id)

    def ingest_fn(raw_id: int) -> None:  # the ingest_message actor's work
        ingest_mod.pass_on([ingest_mod.ingest(app, raw_id)])

    def outbound_ids() -> list[int]:
        from sqlalchemy import text

        from models.db import session_scope

        with session_scope(db_url) as s:
            return list(
                s.execute(
                    text("SELECT id FROM outbound_email WHERE status = 'queued' ORDER BY id")
                ).scalars()
            )

    def one_batch(ids: list[int], label: str) -> tuple[float, float, float, float]:
        cpu, t = time.process_time(), time.perf_counter()
        for raw_id in ids:
            ingest_fn(raw_id)
        t_ing, c_ing = time.perf_counter() - t, time.process_time() - cpu
        cpu, t = time.process_time(), time.perf_counter()
        for out_id in outbound_ids():
            send_fn(out_id)
        return t_ing, c_ing, time.perf_counter() - t, time.process_time() - cpu

    # warm-up: the first mail compiles templates, fills pools, imports lazily
    ingest_fn(stored[0])
    for out_id in outbound_ids():
        send_fn(out_id)
    TIMES.clear()
    STATEMENTS.clear()
    ids = stored[1:]
    t_ing, c_ing, t_send, c_send = one_batch(ids, "timed")
    k = len(ids)
    print(
        f"\npass 2 — {k} mails, single thread: ingest actor {1000 * t_ing / k:.1f} ms/mail wall "
        f"({1000 * c_ing / k:.1f} CPU), send actor {1000 * t_send / k:.1f} ms/mail wall "
        f"({1000 * c_send / k:.1f} CPU) → {k / (t_ing + t_send):.1f} mails/s per thread"
    )
    print(f"{'stage':42} {'calls':>6} {'ms/mail':>8} {'ms/call':>8} {'share':>6} {'SQL/mail':>8}")
    total = t_ing + t_send
    for name, values in TIMES.items():
        s = sum(values)
        print(
            f"{name:42} {len(values):6} {1000 * s / k:8.2f} {1000 * s / len(values):8.2f} "
            f"{100 * s / total:5.1f}% {STATEMENTS.get(name, 0) / k:8.1f}"
        )
    print(f"{'SQL statements, all':42} {'':6} {'':8} {'':8} {'':6} {STATEMENTS['(all)'] / k:8.1f}")
    print(
        "(indented stages are inside the one above; session.commit counts every commit, "
        "the poller's excluded)"
    )

    for module, attr in [
        (ingest_mod, a)
        for a in (
            "claim",
            "parse_mail",
            "screen_mail",
            "correlate",
            "open_case",
            "on_case_opened",
            "acknowledge",
            "enqueue_next",
        )
    ] + [(outbox_mod, "render_reply"), (outbox_mod, "compose"), (sender_mod, "deliver")]:
        unpatch(module, attr)
    sqlalchemy.orm.Session.commit = real_commit
    event.remove(Engine, "before_cursor_execute", count_statement)

    # --- pass 3: cProfile --------------------------------------------------------------------
    with box.client() as c:
        for mail in mails[n : 2 * n]:
            c.append("INBOX", mail.raw)
    stored.clear()
    # CPU time by default: waits on PostgreSQL, Dovecot and the sink then cost nothing, and the
    # figures hold up on a machine that others are loading too. --wall for elapsed time.
    profiler = cProfile.Profile() if args.wall else cProfile.Profile(time.process_time)
    profiler.enable()
    poller.poll(imap)
    for raw_id in stored:
        ingest_fn(raw_id)
    for out_id in outbound_ids():
        send_fn(out_id)
    profiler.disable()
    with contextlib.suppress(Exception):
        imap_session.__exit__(None, None, None)
    if args.prof:
        profiler.dump_stats(args.prof)
    by_package(profiler, len(stored))
    for sort in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort)
        stats.print_stats(args.top)
        text = out.getvalue()
        clock = "wall" if args.wall else "CPU"
        print(
            f"\npass 3 — cProfile ({clock} time) of poll + ingest + send for {len(stored)} mails, "
            f"by {sort}:"
        )
        print(text[text.find("   ncalls") :].rstrip())
    return 0


PACKAGES = [
    "sqlalchemy",
    "psycopg",
    "sqlmodel",
    "pydantic",
    "email/",
    "mailparser",
    "jinja2",
    "charset_normalizer",
    "html2text",
    "nh3",
    "imapclient",
    "imaplib",
    "smtplib",
    "dramatiq",
    "redis",
    "holidays",
    "zoneinfo",
    "json",
    "/workers/",
    "/models/",
    "/config/",
]


def by_package(profiler: cProfile.Profile, n: int) -> None:
    """Own time summed per library: which layer the time goes to."""
    stats = pstats.Stats(profiler)
    groups: dict[str, float] = defaultdict(float)
    for (filename, _line, _fn), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        key = next((p.strip("/") for p in PACKAGES if p in filename), None)
        if key is None:
            key = "builtins (C)" if filename == "~" else "stdlib, other"
        groups[key] += tottime
    total = sum(groups.values())
    print(f"\npass 3 — own time per library ({1000 * total / max(n, 1):.1f} ms/mail in all):")
    for key, value in sorted(groups.items(), key=lambda kv: -kv[1])[:16]:
        print(f"  {key:22} {1000 * value / max(n, 1):7.2f} ms/mail {100 * value / total:5.1f}%")


if __name__ == "__main__":
    sys.exit(main())
