"""The `complaintdesk` command line (typer). Each command imports what it needs when it runs,
so that listing cases never touches the broker, and the demo can choose its own wiring."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from workers.ops.cli_calendar import register as register_calendar
from workers.ops.cli_classify import register as register_classify
from workers.ops.cli_clock import register as register_clock
from workers.ops.terminal import printable, printable_json

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="complaintdesk: email-driven complaint handling (投诉举报处理)",
)
db_app = typer.Typer(no_args_is_help=True, help="The database.")
cases_app = typer.Typer(no_args_is_help=True, help="Cases.")
case_app = typer.Typer(no_args_is_help=True, help="One case.")
mail_app = typer.Typer(no_args_is_help=True, help="Every mail received.")
quarantine_app = typer.Typer(no_args_is_help=True, help="Mail we could not use.")
staff_app = typer.Typer(no_args_is_help=True, help="Staff of the policy file.")
for sub, name in (
    (db_app, "db"),
    (cases_app, "cases"),
    (case_app, "case"),
    (mail_app, "mail"),
    (quarantine_app, "quarantine"),
    (staff_app, "staff"),
):
    app.add_typer(sub, name=name)
register_calendar(app)
register_classify(app)
register_clock(app)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (a stable contract).")]


def _app() -> Any:
    """The App of this command: the one the process was wired with (a test, the demo), else
    one from the environment."""
    from workers.app import installed_or_from_environment

    return installed_or_from_environment()


def _wired() -> Any:
    """The App, with the process wired (workers.wiring): for commands that enqueue work."""
    from workers import wiring

    wiring.start(_app())
    return _app()


def _print_json(data: Any) -> None:
    typer.echo(printable_json(data))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    from workers.ops.text_tables import format_table

    typer.echo(format_table(rows, columns))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the tables (Alembic)."""
    from models.migrate import upgrade

    upgrade(_app().db_url)
    typer.echo("database is up to date")


@app.command()
def poller(
    once: Annotated[bool, typer.Option(help="Import what is there, then exit.")] = False,
) -> None:
    """Fetch mail from the IMAP mailbox into the database and enqueue it."""
    import logging

    from config.settings import require_secret_key
    from workers import hops
    from workers.intake.poller import Poller

    require_secret_key(_app().settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app_ = _wired()

    def enqueue(ids: list[int]) -> None:
        hops.to_ingest(ids, app_.settings.ingest_batch)

    stored = Poller(app_, enqueue).run(once=once)
    if once:
        typer.echo(f"stored {stored} new mails")


@app.command()
def sweep(grace: Annotated[float, typer.Option(help="Seconds a row may wait.")] = 0.0) -> None:
    """Enqueue again every mail and reply that was committed but not finished."""
    from workers.sweeper import sweep as run_sweep

    result = run_sweep(_wired(), grace=grace)
    typer.echo(
        f"re-enqueued {len(result.raw_ids)} mails and {len(result.outbound_ids)} replies"
        f" ({len(result.case_ids)} cases never routed)"
    )


@app.command()
def health(
    as_json: JsonFlag = False,
    max_pending_age: Annotated[float, typer.Option(help="Seconds a mail may wait.")] = 600,
    max_outbox_age: Annotated[float, typer.Option(help="Seconds a reply may wait.")] = 900,
    max_poller_silence: Annotated[float, typer.Option(help="Seconds without IMAP contact.")] = 900,
    max_quarantined: Annotated[int, typer.Option(help="Quarantined mails tolerated.")] = 0,
    no_poller: Annotated[
        bool, typer.Option(help="No IMAP poller runs here (folder inbox).")
    ] = False,
) -> None:
    """Is mail flowing? Exit code 1 when a check is over its limit."""
    from models.db import session_scope
    from workers.ops.health import as_json as health_json
    from workers.ops.health import measure

    with session_scope(_app().db_url) as session:
        checks = measure(
            session,
            max_pending_age=max_pending_age,
            max_outbox_age=max_outbox_age,
            max_poller_silence=max_poller_silence,
            max_quarantined=max_quarantined,
            expect_poller=not no_poller,
        )
    if as_json:
        _print_json(health_json(checks))
    else:
        for c in checks:
            value = "-" if c.value is None else f"{c.value:.0f} {c.unit}"
            limit = "" if c.limit is None else f" (limit {c.limit:.0f})"
            line = f"{'ok  ' if c.ok else 'FAIL'}  {c.name:<30} {value}{limit}  {c.note}"
            typer.echo(printable(line))
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@app.command()
def metrics(
    host: Annotated[str, typer.Option()] = "127.0.0.1", port: Annotated[int, typer.Option()] = 9200
) -> None:
    """Serve Prometheus metrics of the pipeline (read from the database on each scrape)."""
    import time

    from prometheus_client import start_http_server
    from prometheus_client.core import REGISTRY

    from workers.ops.metrics import PipelineCollector

    REGISTRY.register(PipelineCollector(_app().db_url))
    start_http_server(port, addr=host)
    typer.echo(f"metrics on http://{host}:{port}/metrics")
    while True:
        time.sleep(3600)


@cases_app.command("list")
def cases_list(
    as_json: JsonFlag = False,
    status: Annotated[str | None, typer.Option(help="Only this state.")] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only cases with a missed or past-due deadline.")
    ] = False,
) -> None:
    """Every case: number, state, complainant, subject, language, created, messages."""
    from models.db import session_scope
    from models.types import utcnow
    from workers.clock.deadlines import overdue_case_numbers
    from workers.ops.case_views import list_cases

    with session_scope(_app().db_url) as session:
        rows = list_cases(session, status)
        if overdue:
            late = overdue_case_numbers(session, utcnow())
            rows = [row for row in rows if row["number"] in late]
    if as_json:
        _print_json(rows)
    else:
        _table(rows, ["number", "status", "complainant", "language", "message_count", "subject"])


@case_app.command("show")
def case_show(number: str, as_json: JsonFlag = False) -> None:
    """One case with its messages (decoded text), attachments and event history."""
    from models.db import session_scope
    from workers.ops.case_views import case_detail

    with session_scope(_app().db_url) as session:
        detail = case_detail(session, number.upper())
    if detail is None:
        typer.echo(f"no case {number}", err=True)
        raise typer.Exit(1)
    if as_json:
        _print_json(detail)
        return
    from workers.ops.text_tables import format_case

    typer.echo(format_case(detail))


@mail_app.command("list")
def mail_list(
    as_json: JsonFlag = False,
    disposition: Annotated[
        str | None, typer.Option(help="pending | case | follow_up | screened | quarantined")
    ] = None,
) -> None:
    """Every mail received and what became of it."""
    from models.db import session_scope
    from workers.ops.case_views import list_mail

    with session_scope(_app().db_url) as session:
        rows = list_mail(session, disposition)
    if as_json:
        _print_json(rows)
    else:
        _table(rows, ["id", "received_at", "disposition", "case", "message_id", "reason"])


@quarantine_app.command("list")
def quarantine_list(as_json: JsonFlag = False) -> None:
    """Quarantined mail with the reason."""
    from models import Disposition
    from models.db import session_scope
    from workers.ops.case_views import list_mail

    with session_scope(_app().db_url) as session:
        rows = list_mail(session, Disposition.QUARANTINED)
    if as_json:
        _print_json(rows)
    else:
        _table(rows, ["id", "received_at", "attempts", "message_id", "reason"])


def _quarantined(session: Any, raw_id: int) -> Any:
    from models import RawMessage, RawStatus

    raw = session.get(RawMessage, raw_id)
    if raw is None or raw.status != RawStatus.QUARANTINED:
        typer.echo(f"mail {raw_id} is not in quarantine", err=True)
        raise typer.Exit(1)
    return raw


@quarantine_app.command("replay")
def quarantine_replay(raw_id: int, note: Annotated[str, typer.Option()] = "replayed") -> None:
    """Put a quarantined mail through ingest again."""
    from models.db import session_scope
    from workers import hops
    from workers.intake.quarantine import release_row

    with session_scope(_wired().db_url) as session:
        release_row(session, _quarantined(session, raw_id), note)
    hops.to_ingest([raw_id], 1)
    typer.echo(f"mail {raw_id} queued for ingest again")


@quarantine_app.command("discard")
def quarantine_discard(raw_id: int, note: Annotated[str, typer.Option()]) -> None:
    """Set a quarantined mail aside for good (its bytes are kept)."""
    from models.db import session_scope
    from workers.intake.quarantine import discard_row

    with session_scope(_app().db_url) as session:
        discard_row(session, _quarantined(session, raw_id), note)
    typer.echo(f"mail {raw_id} discarded")


@staff_app.command("list")
def staff_list(as_json: JsonFlag = False) -> None:
    """Staff and their groups, from the policy file."""
    rows = [s.model_dump() for s in _app().policy.staff]
    if as_json:
        _print_json(rows)
    else:
        _table(
            [{**r, "groups": ",".join(r["groups"])} for r in rows],
            ["id", "name", "email", "groups", "on_duty"],
        )


@app.command()
def demo(
    inbox: Annotated[Path, typer.Option(help="Folder of .eml files.")] = Path(
        "tests/fixtures/demo_inbox"
    ),
    out: Annotated[
        Path, typer.Option(help="Where the demo writes its database and outbox.")
    ] = Path("var/demo"),
) -> None:
    """Run the whole pipeline in one process: SQLite, in-process broker, folder in and out."""
    from workers.ops.demo import run_demo

    code = run_demo(inbox, out)
    sys.exit(code)
