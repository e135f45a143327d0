"""CPU per mail of each actor on the batch path, in one thread: the worker's budget, stage by stage.

    uv run python bench/stages.py                      # N=500 on PostgreSQL, batches of 100
    uv run python bench/stages.py --n 300 --prof /tmp/stages   # + cProfile per stage

What the Procfile's worker does to a mail, without Dramatiq's threads or Redis in the way (the
Stub broker takes the messages the actors send, and they are dropped): store_batch (the
poller's transaction), ingest_many, classify_many, route_many, then every outbox row through
send() to an aiosmtpd sink in a child process. Figures: CPU (process_time) and wall time per
mail of each stage, and SQL statements per mail. Repeatable to a few per cent on an idle
machine, unlike the end-to-end bench, so it is the one to compare a change with.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STATEMENTS = [0]
SEEN: dict[str, dict[str, int]] = {}  # stage → statement's first words → count (--sql)
CURRENT = [""]


def count_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
    STATEMENTS[0] += 1
    key = re.sub(r"sa_savepoint_\d+", "sa_savepoint_N", " ".join(statement.split()))[:90]
    SEEN.setdefault(CURRENT[0], {}).setdefault(key, 0)
    SEEN[CURRENT[0]][key] += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--batch", type=int, default=100, help="mails per actor message (100)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--prof", metavar="PREFIX", help="write PREFIX.<stage>.prof (cProfile)")
    parser.add_argument("--sql", action="store_true", help="list each stage's statements")
    args = parser.parse_args()

    from bench.intake import HOST
    from tests.servers import create_pg_database, drop_pg_database, free_port

    tmp = Path(tempfile.mkdtemp(prefix="cdbench-stages-"))
    cleanups: list[Callable[[], Any]] = []
    try:
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
        assert sink.stdout is not None and sink.stdout.readline().strip() == b"ready"
        db_url = create_pg_database(prefix="cdbench")
        cleanups.append(lambda: drop_pg_database(db_url))
        os.environ.update(
            {
                "COMPLAINTDESK_DATABASE_URL": db_url,
                "COMPLAINTDESK_BROKER_URL": "stub",
                "COMPLAINTDESK_SMTP__HOST": HOST,
                "COMPLAINTDESK_SMTP__PORT": str(port),
                "COMPLAINTDESK_SMTP__STARTTLS": "false",  # the loopback sink offers no TLS
                "COMPLAINTDESK_SECRET_KEY": "stages-" + os.urandom(24).hex(),
                "COMPLAINTDESK_ATTACHMENTS_DIR": str(tmp / "attachments"),
            }
        )
        for key in [k for k in os.environ if k.startswith("COMPLAINTDESK_OUTBOX")]:
            del os.environ[key]
        return run(args, db_url)
    finally:
        for fn in reversed(cleanups):
            with contextlib.suppress(Exception):
                fn()
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, db_url: str) -> int:
    from sqlalchemy import event, select
    from sqlalchemy.engine import Engine

    from bench.mailgen import generate
    from config.settings import get_settings
    from models import OutboundEmail
    from models.db import session_scope
    from models.migrate import upgrade
    from workers import wiring
    from workers.app import App
    from workers.batches import together
    from workers.intake.ingest import IngestBatch
    from workers.intake.poller import store_batch
    from workers.outbound.sender import send
    from workers.triage.classify_case import ClassifyBatch
    from workers.triage.route_case import RouteBatch

    def ingest_many(app: App, ids: list[int]) -> Any:
        return together(IngestBatch(app), ids)

    def classify_many(app: App, ids: list[int], model: None) -> Any:
        return together(ClassifyBatch(app, model), ids)

    def route_many(app: App, ids: list[int]) -> Any:
        return together(RouteBatch(app), ids)

    upgrade(db_url)
    wiring.warm_up()
    app = App.from_settings(get_settings())
    mails = generate(args.n + 20, seed=args.seed)
    event.listen(Engine, "before_cursor_execute", count_statement)

    def batches(ids: list[int]) -> list[list[int]]:
        return [ids[i : i + args.batch] for i in range(0, len(ids), args.batch)]

    # Warm every path once (imports, compiled SQL caches) on mails outside the figures.
    warm = store_batch(app, "warm", 1, {i + 1: m.raw for i, m in enumerate(mails[args.n :])})
    outcomes, _ = ingest_many(app, warm)
    cases = [o.case_id for o in outcomes if o.new_case and o.case_id]
    classify_many(app, cases, None)
    route_many(app, cases)

    figures: list[tuple[str, float, float, int]] = []
    raw_ids: list[int] = []
    case_ids: list[int] = []

    def stage(name: str, work: Callable[[], None]) -> None:
        profiler = cProfile.Profile(time.process_time) if args.prof else None
        STATEMENTS[0], CURRENT[0] = 0, name
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        work()
        if profiler:
            profiler.disable()
            profiler.dump_stats(f"{args.prof}.{name.split()[0]}.prof")
        figures.append((name, time.process_time() - cpu, time.perf_counter() - wall, STATEMENTS[0]))

    def do_store() -> None:
        for chunk in batches(list(range(args.n))):
            raw_ids.extend(store_batch(app, "bench", 1, {i + 1: mails[i].raw for i in chunk}))

    def do_ingest() -> None:
        for chunk in batches(raw_ids):
            outcomes, _ = ingest_many(app, chunk)
            case_ids.extend(o.case_id for o in outcomes if o.new_case and o.case_id)

    def do_classify() -> None:
        for chunk in batches(case_ids):
            classify_many(app, chunk, None)

    def do_route() -> None:
        for chunk in batches(case_ids):
            route_many(app, chunk)

    with session_scope(db_url) as s:
        before = set(s.execute(select(OutboundEmail.id)).scalars())

    def do_send() -> None:
        with session_scope(db_url) as s:
            ids = [
                i
                for i in s.execute(select(OutboundEmail.id).order_by(OutboundEmail.id)).scalars()
                if i not in before
            ]
        for outbound_id in ids:
            send(app, outbound_id)
        sent[0] = len(ids)

    sent = [0]
    stage("store (poller's transaction)", do_store)
    stage("ingest_many", do_ingest)
    stage("classify_many", do_classify)
    stage("route_many", do_route)
    stage("send (all outbox rows)", do_send)

    n = len(raw_ids)
    print(
        f"N={n} mails, {len(case_ids)} cases, {sent[0]} mails sent "
        f"({sent[0] / max(1, n):.2f} a mail), batches of {args.batch}, one thread, PostgreSQL"
    )
    print(f"{'stage':34} {'CPU ms/mail':>12} {'wall ms/mail':>13} {'SQL/mail':>9}")
    for name, cpu, wall, sql in figures:
        print(f"{name:34} {1000 * cpu / n:12.2f} {1000 * wall / n:13.2f} {sql / n:9.1f}")
    cpu = sum(f[1] for f in figures)
    wall = sum(f[2] for f in figures)
    print(
        f"{'all':34} {1000 * cpu / n:12.2f} {1000 * wall / n:13.2f} "
        f"{sum(f[3] for f in figures) / n:9.1f}"
    )
    if args.sql:
        for name, *_ in figures:
            print(f"\n{name}: statements per mail")
            for key, count in sorted(SEEN.get(name, {}).items(), key=lambda kv: -kv[1]):
                print(f"  {count / n:6.2f}  {key}")
    print(
        f"→ one core at this CPU cost: {n / cpu:.0f} mails/s (this process only; PostgreSQL "
        f"and the sink not counted)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
