"""Prometheus metrics of the pipeline, read from the database on each scrape.

`complaintdesk metrics` serves them (default 127.0.0.1:9200); Dramatiq's own exporter (actor
counts, durations, retries) runs inside the workers when COMPLAINTDESK_WORKER_METRICS=true.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlmodel import col

from models import Case, RawMessage
from models.db import session_scope
from workers.ops.health import measure

_UNITS = {"s": "seconds", "mails": "total"}


class PipelineCollector(Collector):
    def __init__(self, db_url: str) -> None:
        self.db_url = db_url

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with session_scope(self.db_url) as session:
            checks = measure(session)
            mail = session.execute(
                select(col(RawMessage.disposition), func.count()).group_by(
                    col(RawMessage.disposition)
                )
            ).all()
            cases = session.execute(
                select(col(Case.status), func.count()).group_by(col(Case.status))
            ).all()
        for check in checks:
            suffix = "_seconds" if check.unit == "s" else ""
            gauge = GaugeMetricFamily(
                f"complaintdesk_{check.name}{suffix}",
                f"{check.name.replace('_', ' ')} ({check.unit})",
            )
            gauge.add_metric([], float("nan") if check.value is None else check.value)
            yield gauge
        by_disposition = GaugeMetricFamily(
            "complaintdesk_mail", "Mail received, by what became of it", labels=["disposition"]
        )
        for disposition, count in mail:
            by_disposition.add_metric([disposition], count)
        yield by_disposition
        by_status = GaugeMetricFamily("complaintdesk_cases", "Cases by state", labels=["status"])
        for status, count in cases:
            by_status.add_metric([status], count)
        yield by_status
