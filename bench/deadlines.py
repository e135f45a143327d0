"""Scheduler benchmark: the tick's due-deadline query over 1,000,000 pending deadlines.

Run on demand (not a test):

    uv run python bench/deadlines.py                      # 1,000,000 deadlines, 200 ticks
    uv run python bench/deadlines.py --rows 100000 --ticks 50 --json figures.json

What it does: creates a fresh PostgreSQL database (tests/servers.create_pg_database), migrates it,
COPYs --rows/10 cases and --rows pending deadlines (10 per case, next_action_at spread evenly over
60 days), plus --closed other rows (met and cancelled ones without a next action, missed ones
still climbing the escalation tiers) so that the index holds other states too, then ANALYZE. It runs the scheduler's own query
(`workers.clock.scheduler.due_deadline_ids`, batch 1000) at --ticks moments spread over those 60 days
(from nothing due to nearly everything due; and the steady state, a minute's worth due), and
the whole `tick()` (query + 1000 enqueues on the in-process broker). Figures: p50/p95/max of
each, Python memory of a tick (tracemalloc peak, in a separate untimed pass) and the RSS, and `EXPLAIN (ANALYZE, BUFFERS)` of
the query, which must read ix_deadline_due as an index range scan (checked; exit 1 if not). The database is
dropped at exit unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/deadlines.py` as well as `python -m bench.deadlines`
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("COMPLAINTDESK_BROKER_URL", "stub")

import dramatiq  # noqa: E402
import psutil  # noqa: E402
import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

from config.settings import Settings  # noqa: E402
from models.db import get_engine  # noqa: E402
from models.migrate import upgrade  # noqa: E402
from tests.servers import create_pg_database, drop_pg_database, pg_available  # noqa: E402
from workers import wiring  # noqa: E402
from workers.app import App  # noqa: E402
from workers.clock.rules import Kind  # noqa: E402
from workers.clock.scheduler import DEFAULT_BATCH, due_deadline_ids, due_query, tick  # noqa: E402

BASE = datetime(2026, 10, 12, 1, 0, tzinfo=UTC)
SPAN = timedelta(days=60)
KINDS = [str(k) for k in Kind]


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def load(url: str, rows: int, closed: int) -> dict[str, float]:
    """COPY the cases and deadlines; seconds spent on each part."""
    cases = max(1, (rows + closed) // 10 + 1)
    step = SPAN / rows
    timings: dict[str, float] = {}
    with psycopg.connect(libpq(url)) as conn:
        started = time.perf_counter()
        with conn.cursor().copy(
            'COPY "case" (id, number, status, subject, complainant_email, complainant_name, '
            "language, malicious, received_at, created_at, updated_at) FROM STDIN"
        ) as copy:
            for i in range(1, cases + 1):
                copy.write_row(
                    (
                        i,
                        f"TS-2026-{i:07d}",
                        "accepted",
                        "宽带断网",
                        f"c{i}@example.net",
                        "",
                        "zh-CN",
                        False,
                        BASE,
                        BASE,
                        BASE,
                    )
                )
        timings["copy_cases_s"] = time.perf_counter() - started
        started = time.perf_counter()
        with conn.cursor().copy(
            "COPY deadline (case_id, kind, occasion, started_at, due_at, state, next_action_at, "
            "reminders_sent, escalation_tier, detail) FROM STDIN"
        ) as copy:
            for n in range(rows + closed):
                case_id, slot = n // 10 + 1, n % 10
                kind, occasion = KINDS[slot % len(KINDS)], slot // len(KINDS)
                if n < rows:
                    # Spread over the span in a shuffled order, as cases arrive at random.
                    at = BASE + step * ((n * 7919) % rows)
                    state, nxt = "pending", at
                elif n % 3 == 2:  # missed, climbing the escalation tiers
                    at = BASE + step * ((n * 7919) % rows)
                    state, nxt = "missed", at + timedelta(hours=24)
                else:
                    at = BASE - timedelta(days=30)
                    state, nxt = ("met", "cancelled")[n % 3], None
                copy.write_row(
                    (case_id, kind, occasion, at - timedelta(days=3), at, state, nxt, 0, 0, "{}")
                )
        timings["copy_deadlines_s"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("SELECT setval('case_id_seq', %s)", (cases,))
        conn.execute("ANALYZE")
        timings["analyze_s"] = time.perf_counter() - started
        conn.commit()
    return timings


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100) if len(ordered) > 1 else ordered * 99
    return {
        "p50_ms": round(q[49] * 1000, 3),
        "p95_ms": round(q[94] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
        "n": len(ordered),
    }


def time_ticks(app: App, moments: list[datetime]) -> dict[str, Any]:
    """The query alone at each moment, then the whole tick, then memory in a separate pass
    (tracemalloc slows every allocation down: never time under it)."""
    engine = get_engine(app.db_url)
    process = psutil.Process()
    rss_before = process.memory_info().rss
    query_s, found = _time_queries(engine, moments)
    tick_s, enqueued = _time_ticks(app, moments)
    tracemalloc.start()
    _time_ticks(app, moments)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "query": percentiles(query_s),
        "tick_with_enqueue": percentiles(tick_s),
        "rows_found": {"min": min(found), "max": max(found)},
        "enqueued_per_tick": {"min": min(enqueued), "max": max(enqueued)},
        "tick_tracemalloc_peak_mb": round(peak / 2**20, 2),
        "rss_mb": {
            "before": round(rss_before / 2**20, 1),
            "after": round(process.memory_info().rss / 2**20, 1),
        },
    }


def _time_queries(engine: Any, moments: list[datetime]) -> tuple[list[float], list[int]]:
    """The query on one held connection (what the database spends, and the driver)."""
    seconds, found = [], []
    with engine.connect() as conn, Session(bind=conn) as session:
        due_deadline_ids(session, moments[0])  # warm the connection and the plan cache
        session.commit()
        for now in moments:
            started = time.perf_counter()
            found.append(len(due_deadline_ids(session, now, DEFAULT_BATCH)))
            session.commit()
            seconds.append(time.perf_counter() - started)
    return seconds, found


def _time_ticks(app: App, moments: list[datetime]) -> tuple[list[float], list[int]]:
    """What the scheduler process does each minute: a session from the pool (with its
    liveness ping), the query, the commit, one enqueue per row on the in-process broker."""
    broker, seconds, enqueued = dramatiq.get_broker(), [], []
    for now in moments:
        started = time.perf_counter()
        tick(app, now)
        seconds.append(time.perf_counter() - started)
        enqueued.append(sum(q.qsize() for q in broker.queues.values()))
        broker.flush_all()
    return seconds, enqueued


def explain(app: App, now: datetime) -> str:
    engine = get_engine(app.db_url)
    out = []
    with engine.connect() as conn:
        for state in ("pending", "missed"):
            compiled = due_query(state, now, DEFAULT_BATCH).compile(dialect=engine.dialect)
            plan = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + compiled.string, compiled.params
            ).scalars()
            out.append(f"-- state = '{state}', now = {now.isoformat()}\n" + "\n".join(plan))
    return "\n\n".join(out)


def index_range_scan(plan: str) -> bool:
    """Every query of the plan reads ix_deadline_due by its key range and scans no table.

    For a handful of due rows PostgreSQL may prefer a bitmap scan of the same range and sort
    what it found; that is still a range scan, and the sort is of those few rows.
    """
    queries = [q for q in plan.split("-- state = ") if q.strip()]
    return all(
        "ix_deadline_due" in q and "Index Cond" in q and "Seq Scan" not in q for q in queries
    )


def sizes(url: str) -> dict[str, str]:
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute(
            "SELECT pg_size_pretty(pg_relation_size('deadline')), "
            "pg_size_pretty(pg_relation_size('ix_deadline_due')), count(*) FILTER "
            "(WHERE state = 'pending'), count(*) FROM deadline"
        ).fetchone()
    return {"table": row[0], "ix_deadline_due": row[1], "pending_rows": row[2], "all_rows": row[3]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="pending deadlines")
    parser.add_argument("--closed", type=int, default=200_000, help="finished deadlines")
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args(argv)
    problem = pg_available()
    if problem is not None:
        print(f"PostgreSQL unavailable: {problem} (run tests/setup_servers.sh)", file=sys.stderr)
        return 2
    url = create_pg_database(prefix="cdbench")
    ranged = False
    try:
        upgrade(url)
        figures: dict[str, Any] = {"rows": args.rows, "closed": args.closed}
        figures["load"] = load(url, args.rows, args.closed)
        figures["sizes"] = sizes(url)
        app = App.from_settings(Settings(database_url=url, broker_url="stub"))
        # The in-process broker (the settings above name it).
        assert type(wiring.start(app)).__name__ == "StubBroker"
        spread = [
            BASE - timedelta(days=1) + (SPAN + timedelta(days=2)) * i / max(1, args.ticks - 1)
            for i in range(args.ticks)
        ]
        figures["spread"] = time_ticks(app, spread)
        # Steady state: a scheduler ticking every minute has acted on everything older, so
        # only the last minute's rows are due (about rows / 86,400 of them).
        steady = [BASE + timedelta(minutes=i / args.ticks) for i in range(1, args.ticks + 1)]
        figures["steady"] = time_ticks(app, steady)
        print(json.dumps(figures, indent=2, ensure_ascii=False))
        print()
        plans = [
            explain(app, BASE + SPAN / 2),  # half the rows due: the batch stops the scan
            explain(app, BASE + timedelta(minutes=1)),
        ]  # steady state
        print("\n\n".join(plans))
        ranged = all(index_range_scan(plan) for plan in plans)
        print(f"\nindex range scan on ix_deadline_due, no table scan: {'yes' if ranged else 'NO'}")
        figures["index_range_scan"] = ranged
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    finally:
        get_engine(url).dispose()
        if args.keep:
            print(f"kept {url}")
        else:
            drop_pg_database(url)
    return 0 if ranged else 1


if __name__ == "__main__":
    sys.exit(main())
