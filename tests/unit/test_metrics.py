"""The metrics a Prometheus scrape sees reflect the pipeline's rows."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from models.db import session_scope
from workers.app import App
from workers.intake.ingest import ingest
from workers.intake.raw_store import store_raw
from workers.ops.metrics import PipelineCollector


def test_scrape_shows_mail_dispositions_cases_and_health(app: App) -> None:
    with session_scope(app.db_url) as s:
        raw = store_raw(
            s,
            "From: a@example.com\r\nTo: complaints@example.org\r\nSubject: 宽带\r\n"
            "Message-ID: <m1@example.com>\r\n\r\n宽带断网\r\n".encode(),
            "test",
        )
        pending = store_raw(s, b"From: b@example.com\r\nSubject: x\r\n\r\nx", "test")
    ingest(app, raw.id)
    registry = CollectorRegistry()
    registry.register(PipelineCollector(app.db_url))
    text = generate_latest(registry).decode()
    assert 'complaintdesk_mail{disposition="case"} 1.0' in text
    assert 'complaintdesk_mail{disposition="pending"} 1.0' in text
    assert 'complaintdesk_cases{status="received"} 1.0' in text
    assert "complaintdesk_quarantined 0.0" in text
    assert "complaintdesk_oldest_unprocessed_mail_age_seconds" in text
    assert pending is not None
