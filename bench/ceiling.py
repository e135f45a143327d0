"""Raw ceilings of each intake stage, next to our end-to-end throughput, on one corpus and one set of servers.

Run on demand (not a test):

    uv run python bench/ceiling.py                  # N=1000
    uv run python bench/ceiling.py --n 500 --json ceiling.json

Starts the servers of bench/intake.py once (private Dovecot, redis-server, the aiosmtpd sink in
its own process, a fresh PostgreSQL database), generates the corpus (bench/mailgen.py) and times
each stage alone, with no code of ours in the way:

1. IMAP: the corpus APPENDed to a separate account (not timed), then UID FETCH BODY.PEEK[] in
   batches of 100 over one imapclient connection.
2. parsing: mailparser.parse_from_bytes over every raw mail, in-process; workers.mail.parse.parse_mail
   (ours) over the same bytes, for comparison.
3. Dramatiq: N messages to a no-op actor on a RedisBroker (own queue), consumed by an in-process
   dramatiq.Worker (--dramatiq-threads, the Procfile's 4 by default); first send to last done.
4. PostgreSQL: per mail a case, raw_message, message, event and outbound_email row, SQLAlchemy
   Core executemany, one transaction per 100 mails, on a second database of the same server.
5. SMTP: N pre-composed replies to the sink over one smtplib connection.

Then bench/intake.py's Bench runs the real Procfile pipeline end to end on the same servers
(the same corpus, regenerated from the same seed; a fresh intake account and database) and the
table gives every stage's mails/s, ours, and ours / the slowest stage. Everything is stopped and
removed at exit.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import smtplib
import sys
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.intake import HOST, INTAKE, Bench, load_mails, print_report  # noqa: E402


class CeilingBench(Bench):
    """bench/intake.py's Bench whose run() reuses the servers this script already started."""

    _env: dict[str, str] | None = None

    def start_servers(self) -> dict[str, str]:
        if self._env is None:
            self._env = super().start_servers()
        return self._env


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


# --- 1. IMAP fetch ----------------------------------------------------------------------------


def stage_imap(bench: Bench, mails: list[Any]) -> dict[str, Any]:
    box = bench.dovecot.new_mailbox("ceiling")  # not the pipeline's intake account
    with box.client() as imap:
        for m in mails:
            imap.append("INBOX", m.raw)
    with box.client() as imap:
        imap.select_folder("INBOX", readonly=True)
        uids = sorted(imap.search("ALL"))
        got = 0
        size = 0
        t = time.perf_counter()
        for i in range(0, len(uids), 100):
            resp = imap.fetch(uids[i : i + 100], [b"BODY.PEEK[]"])
            for data in resp.values():
                body = data[b"BODY[]"]
                got += 1
                size += len(body)
        elapsed = time.perf_counter() - t
    if got != len(mails):
        raise RuntimeError(f"IMAP fetch: {got} mails, expected {len(mails)}")
    return {"mails": got, "seconds": elapsed, "rate": rate(got, elapsed), "bytes": size}


# --- 2. parsing -------------------------------------------------------------------------------


def stage_parse(mails: list[Any]) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    import mailparser

    from workers.mail.parse import parse_mail

    raws = [m.raw for m in mails]
    mailparser.parse_from_bytes(raws[0])  # warm-up: lazy imports
    parse_mail(raws[0])
    t = time.perf_counter()
    for raw in raws:
        mailparser.parse_from_bytes(raw)
    lib = time.perf_counter() - t
    t = time.perf_counter()
    parsed = [parse_mail(raw) for raw in raws]
    ours = time.perf_counter() - t
    return (
        {"mails": len(raws), "seconds": lib, "rate": rate(len(raws), lib)},
        {"mails": len(raws), "seconds": ours, "rate": rate(len(raws), ours)},
        parsed,
    )


# --- 3. Dramatiq round trip -------------------------------------------------------------------


def stage_dramatiq(redis_url: str, n: int, threads: int) -> dict[str, Any]:
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=redis_url, namespace="ceiling")
    dramatiq.set_broker(broker)
    done = threading.Event()
    lock = threading.Lock()
    state = {"count": 0, "last": 0.0}

    @dramatiq.actor(broker=broker, queue_name="ceiling_noop", max_retries=0)
    def noop(i: int) -> None:
        with lock:
            state["count"] += 1
            state["last"] = time.perf_counter()
            if state["count"] >= n:
                done.set()

    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        time.sleep(0.5)  # consumers connected
        t = time.perf_counter()
        for i in range(n):
            noop.send(i)
        sent = time.perf_counter() - t
        if not done.wait(300):
            raise RuntimeError(f"Dramatiq: {state['count']}/{n} done after 300 s")
        elapsed = state["last"] - t
    finally:
        worker.stop(timeout=5000)
        broker.close()
    return {
        "messages": n,
        "seconds": elapsed,
        "rate": rate(n, elapsed),
        "send_seconds": sent,
        "send_rate": rate(n, sent),
        "worker_threads": threads,
    }


# --- 4. PostgreSQL writes ---------------------------------------------------------------------


def compose_reply(mail: Any, i: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = INTAKE
    msg["To"] = mail.sender
    msg["Subject"] = f"您的投诉已受理 [TS-2026-{i:06d}]"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg["In-Reply-To"] = f"<{mail.message_id}>"
    msg["References"] = f"<{mail.message_id}>"
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(
        (
            f"您好：\n\n我们已收到您的投诉，受理编号 TS-2026-{i:06d}。我们将在法定期限内处理并答复。\n"
            "如需补充材料，请直接回复本邮件，并保留主题中的编号。\n\n"
        )
        * 3
        + "此致\n投诉受理中心\n",
        charset="utf-8",
    )
    return msg.as_bytes(policy=SMTP)  # CRLF: smtplib sends bytes as they are


def stage_db(
    db_url: str, mails: list[Any], parsed: list[Any], replies: list[bytes]
) -> dict[str, Any]:
    from sqlalchemy import create_engine, insert

    from models.tables import Case, Event, Message, OutboundEmail, RawMessage

    t_case, t_raw, t_msg = Case.__table__, RawMessage.__table__, Message.__table__
    t_evt, t_out = Event.__table__, OutboundEmail.__table__
    engine = create_engine(db_url)
    now = datetime.now(UTC)
    n = len(mails)
    try:
        with engine.connect() as conn:  # connect outside the timing
            pass
        t = time.perf_counter()
        for start in range(0, n, 100):
            idx = range(start, min(start + 100, n))
            with engine.begin() as conn:
                case_ids = (
                    conn.execute(
                        insert(t_case).returning(t_case.c.id, sort_by_parameter_order=True),
                        [
                            {
                                "number": f"TS-2026-{i:06d}",
                                "status": "received",
                                "subject": parsed[i].subject,
                                "complainant_email": mails[i].sender,
                                "complainant_name": parsed[i].from_name,
                                "language": parsed[i].language,
                                "malicious": False,
                                "received_at": now,
                                "created_at": now,
                                "updated_at": now,
                            }
                            for i in idx
                        ],
                    )
                    .scalars()
                    .all()
                )
                raw_ids = (
                    conn.execute(
                        insert(t_raw).returning(t_raw.c.id, sort_by_parameter_order=True),
                        [
                            {
                                "mailbox": "INBOX",
                                "uidvalidity": 1,
                                "uid": i + 1,
                                "message_id": mails[i].message_id,
                                "identity": f"mid:{mails[i].message_id}",
                                "sha256": hashlib.sha256(mails[i].raw).hexdigest(),
                                "size": len(mails[i].raw),
                                "raw": mails[i].raw,
                                "received_at": now,
                                "status": "done",
                                "disposition": "case",
                                "attempts": 1,
                                "enqueued_at": now,
                                "processed_at": now,
                                "case_id": cid,
                            }
                            for i, cid in zip(idx, case_ids, strict=True)
                        ],
                    )
                    .scalars()
                    .all()
                )
                conn.execute(
                    insert(t_msg),
                    [
                        {
                            "case_id": cid,
                            "direction": "in",
                            "role": "complainant",
                            "raw_message_id": rid,
                            "message_id": mails[i].message_id,
                            "from_addr": parsed[i].from_addr,
                            "from_name": parsed[i].from_name,
                            "to_addrs": parsed[i].to,
                            "subject": parsed[i].subject,
                            "body_text": parsed[i].body_text,
                            "language": parsed[i].language,
                            "charset_notes": parsed[i].charset_notes,
                            "created_at": now,
                        }
                        for i, cid, rid in zip(idx, case_ids, raw_ids, strict=True)
                    ],
                )
                conn.execute(
                    insert(t_evt),
                    [
                        {
                            "case_id": cid,
                            "raw_message_id": rid,
                            "at": now,
                            "actor": "system",
                            "kind": "case_opened",
                            "from_status": None,
                            "to_status": "received",
                            "detail": {"message_id": mails[i].message_id},
                        }
                        for i, cid, rid in zip(idx, case_ids, raw_ids, strict=True)
                    ],
                )
                conn.execute(
                    insert(t_out),
                    [
                        {
                            "dedupe_key": f"ack:{cid}",
                            "case_id": cid,
                            "kind": "acknowledgement",
                            "automatic": True,
                            "to_addr": mails[i].sender,
                            "subject": "您的投诉已受理",
                            "message_id": f"ack-{cid}@example.org",
                            "raw": replies[i],
                            "status": "queued",
                            "attempts": 0,
                            "created_at": now,
                        }
                        for i, cid in zip(idx, case_ids, strict=True)
                    ],
                )
        elapsed = time.perf_counter() - t
    finally:
        engine.dispose()
    return {
        "mails": n,
        "rows": 5 * n,
        "seconds": elapsed,
        "rate": rate(n, elapsed),
        "rows_per_s": rate(5 * n, elapsed),
    }


# --- 5. SMTP ----------------------------------------------------------------------------------


def stage_smtp(port: int, mails: list[Any], replies: list[bytes]) -> dict[str, Any]:
    with smtplib.SMTP(HOST, port, timeout=30) as smtp:
        smtp.ehlo()
        t = time.perf_counter()
        for mail, raw in zip(mails, replies, strict=True):
            smtp.sendmail(INTAKE, [mail.sender], raw)
        elapsed = time.perf_counter() - t
    return {"mails": len(replies), "seconds": elapsed, "rate": rate(len(replies), elapsed)}


# --- the run ----------------------------------------------------------------------------------


def intake_args(args: argparse.Namespace) -> argparse.Namespace:
    """The Namespace bench/intake.py's main() would build, with its defaults."""
    return argparse.Namespace(
        n=args.n,
        db="postgres",
        processes=None,
        threads=None,
        keep=False,
        json=None,
        env=[],
        append_connections=1,
        seed=args.seed,
        mailgen="bench",
        timeout=args.timeout,
        stall=150.0,
        settle=2.0,
        idle=3.0,
        logs=None,
        sink_port=None,
        sink_log=None,
    )


def run(args: argparse.Namespace, bench: CeilingBench) -> dict[str, Any]:
    from models.migrate import upgrade
    from tests.servers import create_pg_database, drop_pg_database

    loads: list[tuple[str, tuple[float, float, float]]] = [("start", os.getloadavg())]
    t = time.monotonic()
    mails = load_mails("bench", args.n, args.seed)
    print(
        f"generated {len(mails)} mails in {time.monotonic() - t:.1f} s "
        f"({sum(len(m.raw) for m in mails) / 2**20:.1f} MB)"
    )
    bench.start_servers()
    figures: dict[str, Any] = {"n": args.n, "seed": args.seed, "cores": os.cpu_count()}

    r = figures["imap_fetch"] = stage_imap(bench, mails)
    print(f"1. IMAP UID FETCH BODY.PEEK[] ×100: {r['rate']:8.1f} mails/s ({r['seconds']:.2f} s)")
    lib, ours, parsed = stage_parse(mails)
    figures["parse_mailparser"], figures["parse_ours"] = lib, ours
    print(
        f"2. mailparser.parse_from_bytes:      {lib['rate']:8.1f} mails/s; "
        f"workers.mail.parse.parse_mail {ours['rate']:.1f} mails/s"
    )
    r = figures["dramatiq"] = stage_dramatiq(bench.redis.url, args.n, args.dramatiq_threads)
    print(
        f"3. Dramatiq no-op round trip:        {r['rate']:8.1f} msgs/s "
        f"(send alone {r['send_rate']:.0f}/s, {r['worker_threads']} threads)"
    )
    loads.append(("after dramatiq", os.getloadavg()))

    db_url = create_pg_database(prefix="cdceil")
    bench.cleanups.append(("ceiling database", lambda: drop_pg_database(db_url)))
    upgrade(db_url)
    replies = [compose_reply(m, i) for i, m in enumerate(mails)]
    r = figures["db_insert"] = stage_db(db_url, mails, parsed, replies)
    print(
        f"4. PostgreSQL 5 rows/mail ×100/tx:   {r['rate']:8.1f} mails/s ({r['rows_per_s']:.0f} rows/s)"
    )
    r = figures["smtp_send"] = stage_smtp(bench.sink_port, mails, replies)
    print(f"5. SMTP to the sink, one connection: {r['rate']:8.1f} mails/s")
    (bench.tmp / "sink.tsv").write_bytes(b"")  # the sink appends (O_APPEND): intake starts clean
    loads.append(("after stages", os.getloadavg()))

    print("\nend to end: bench/intake.py's Bench on the same servers …", flush=True)
    e2e = bench.run()
    print_report(e2e)
    loads.append(("after intake", os.getloadavg()))
    figures["intake"] = {
        k: e2e[k]
        for k in ("throughput", "steady_throughput", "elapsed_s", "latency_s", "cpu_bound_ceiling")
    }
    figures["intake"]["correctness_ok"] = (
        e2e["correctness"]["acked_complaints"] == args.n and e2e["correctness"]["cases"] == args.n
    )
    figures["intake"]["config"] = e2e["config"]
    figures["loadavg"] = loads
    return figures


def print_table(f: dict[str, Any]) -> None:
    stages = [
        ("1. IMAP fetch (imapclient, BODY.PEEK[] ×100)", f["imap_fetch"]["rate"]),
        ("2. parse (mailparser.parse_from_bytes)", f["parse_mailparser"]["rate"]),
        ("3. Dramatiq no-op round trip (Redis)", f["dramatiq"]["rate"]),
        ("4. PostgreSQL insert, 5 rows/mail, ×100/tx", f["db_insert"]["rate"]),
        ("5. SMTP send to the sink (smtplib)", f["smtp_send"]["rate"]),
    ]
    slowest = min(stages, key=lambda s: s[1])
    ours = f["intake"]["throughput"]
    f["slowest_stage"] = slowest[0]
    f["ratio_ours_to_slowest"] = ours / slowest[1] if slowest[1] else None
    print()
    print(f"complaintdesk stage ceilings — N={f['n']}, {f['cores']} cores")
    print("─" * 66)
    print(f"{'stage':50} {'mails/s':>12}")
    for name, value in stages:
        mark = "  ← slowest" if (name, value) == slowest else ""
        print(f"{name:50} {value:12.1f}{mark}")
    print(f"{'   (ours: workers.mail.parse.parse_mail)':50} {f['parse_ours']['rate']:12.1f}")
    print("─" * 66)
    steady = f["intake"]["steady_throughput"]
    print(
        f"{'ours, end to end (bench/intake.py)':50} {ours:12.1f}"
        + ("" if f["intake"]["correctness_ok"] else "  (INCOMPLETE)")
    )
    if steady:
        print(f"{'  steady (10 %–90 % of acks)':50} {steady:12.1f}")
    print(f"{'ours / slowest stage':50} {f['ratio_ours_to_slowest']:12.3f}")
    print(
        "load average: "
        + "; ".join(f"{label} {a:.2f} {b:.2f} {c:.2f}" for label, (a, b, c) in f["loadavg"])
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="mails in the corpus (1000)")
    parser.add_argument("--seed", type=int, default=20261116)
    parser.add_argument(
        "--dramatiq-threads",
        type=int,
        default=4,
        help="worker threads of the in-process Dramatiq worker (Procfile's 4)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="end-to-end run gives up after (s)"
    )
    parser.add_argument("--json", metavar="PATH", help="also dump the figures as JSON here")
    args = parser.parse_args(argv)

    bench = CeilingBench(intake_args(args))

    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    try:
        figures = run(args, bench)
    except KeyboardInterrupt:
        print("stopping; cleaning up", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        bench.cleanup()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    print_table(figures)
    if args.json:
        Path(args.json).write_text(
            json.dumps(figures, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8"
        )
        print(f"figures written to {args.json}")
    return 0 if figures["intake"]["correctness_ok"] else 1


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
