"""The demo: the whole pipeline in one process on SQLite with the StubBroker, a folder of .eml
files as the inbox and a folder as the outbox, so a newcomer sees it work with no server."""

from __future__ import annotations

import secrets
import shutil
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

import typer

from config.settings import Settings


def demo_settings(out: Path) -> Settings:
    out = out.resolve()
    return Settings(
        database_url=f"sqlite:///{out / 'demo.db'}",
        broker_url="stub",
        attachments_dir=out / "attachments",
        outbox_dir=out / "outbox",
        # A key of its own each run: the demo never signs with a published one.
        secret_key=secrets.token_urlsafe(48),
    )


def _decoded(value: str | None) -> str:
    return str(make_header(decode_header(value))) if value else ""


def run_demo(inbox: Path, out: Path) -> int:
    if not inbox.is_dir():
        typer.echo(f"no inbox folder {inbox}", err=True)
        return 1
    shutil.rmtree(out, ignore_errors=True)
    settings = demo_settings(out)
    import dramatiq
    from dramatiq.brokers.stub import StubBroker

    from models import Disposition
    from models.db import session_scope
    from models.migrate import upgrade
    from workers import hops, wiring
    from workers.app import App
    from workers.intake.folder_inbox import import_folder
    from workers.ops.case_views import list_cases, list_mail
    from workers.ops.text_tables import format_table

    upgrade(settings.database_url)
    app = App.from_settings(settings)
    broker = wiring.start(app)  # demo_settings name the in-process stub broker
    assert isinstance(broker, StubBroker)
    # One worker thread keeps the inbox's order: a reply is ingested after its complaint.
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        for raw_id in import_folder(app, inbox):
            hops.to_ingest([raw_id], 1)
        # Actors enqueue further work (triage, clock, outbox): join until every queue is empty.
        for _ in range(5):
            for queue in sorted(broker.get_declared_queues()):
                broker.join(queue, fail_fast=True)
        worker.join()
    finally:
        worker.stop()
    with session_scope(app.db_url) as session:
        cases, mails = list_cases(session), list_mail(session)
    typer.echo(f"\n{len(mails)} mails read from {inbox}, {len(cases)} cases opened\n")
    typer.echo(
        format_table(
            cases,
            [
                "number",
                "status",
                "category",
                "severity",
                "assignee",
                "language",
                "complainant",
                "subject",
            ],
            max_col=36,
        )
    )
    typer.echo("\nMail that opened no case:")
    typer.echo(
        format_table(
            [m for m in mails if m["disposition"] != Disposition.CASE],
            ["id", "disposition", "case", "reason"],
            max_col=70,
        )
    )
    sent = sorted((settings.outbox_dir or out).glob("*.eml"))
    rows = []
    for path in sent:
        msg = message_from_bytes(path.read_bytes())
        rows.append(
            {
                "file": path.name,
                "to": _decoded(msg["To"]),
                "subject": _decoded(msg["Subject"]),
                "in_reply_to": msg["In-Reply-To"],
            }
        )
    typer.echo(f"\nReplies written to {settings.outbox_dir}:")
    typer.echo(format_table(rows, ["file", "to", "subject"], max_col=60))
    typer.echo(
        f"\nLook closer: COMPLAINTDESK_DATABASE_URL={settings.database_url} "
        "complaintdesk case show <NUMBER>"
    )
    return 0
