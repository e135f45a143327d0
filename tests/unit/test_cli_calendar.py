"""`complaintdesk due` and `complaintdesk calendar`: exactly what an operator sees.

The calendar days are the State Council arrangements for 2026 (see test_workdays.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from config.settings import get_settings
from workers.ops.cli_calendar import register

RUNNER = CliRunner()


@pytest.fixture()
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture()
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text('[calendar]\ncountry = "CN"\ntimezone = "Asia/Shanghai"\n', encoding="utf-8")
    return path


@pytest.fixture()
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = RUNNER.invoke(app, list(args))
    return result.exit_code, result.output


def test_due_in_working_days(app: typer.Typer, policy_file: Path) -> None:
    # Sep 30 start, not counted; Oct 1-7 holiday; Oct 8 (1) Oct 9 (2) Oct 10 Sat make-up (3)
    # Oct 11 Sun off; Oct 12 (4) Oct 13 (5) Oct 14 (6) Oct 15 (7).
    args = ("due", "--from", "2026-09-30T10:00:00+08:00", "--working-days", "7")
    assert run(app, *args, "--policy", str(policy_file)) == (0, "2026-10-15T23:59:59+08:00\n")


def test_due_in_hours(app: typer.Typer, policy_file: Path) -> None:
    # Clock hours: 24 h after Sep 30 10:00 is Oct 1 10:00, holiday or not.
    args = ("due", "--from", "2026-09-30T10:00:00+08:00", "--hours", "24")
    assert run(app, *args, "--policy", str(policy_file)) == (0, "2026-10-01T10:00:00+08:00\n")


def test_due_from_utc_counts_the_local_day(app: typer.Typer, policy_file: Path) -> None:
    # 16:30Z on Sep 29 is 00:30 on Sep 30 in Shanghai: Sep 30 not counted; Oct 8 (1).
    args = ("due", "--from", "2026-09-29T16:30:00Z", "--working-days", "1")
    assert run(app, *args, "--policy", str(policy_file)) == (0, "2026-10-08T23:59:59+08:00\n")


def test_naive_from_is_read_in_the_policy_timezone(app: typer.Typer, tmp_path: Path) -> None:
    london = tmp_path / "london.toml"
    london.write_text('[calendar]\ncountry = "GB"\ntimezone = "Europe/London"\n', encoding="utf-8")
    # 10:00 London summer time (+01:00) + 24 h.
    args = ("due", "--from", "2026-09-30T10:00:00", "--hours", "24", "--policy", str(london))
    assert run(app, *args) == (0, "2026-10-01T10:00:00+01:00\n")


def test_due_uses_the_settings_policy_file_by_default(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    closed = tmp_path / "closed.toml"
    closed.write_text("[calendar]\nextra_closed_days = [2026-10-08]\n", encoding="utf-8")
    monkeypatch.setenv("COMPLAINTDESK_POLICY_FILE", str(closed))
    # Sep 30 start; Oct 1-7 holiday; Oct 8 closed by the operator; Oct 9 (1).
    args = ("due", "--from", "2026-09-30T10:00:00+08:00", "--working-days", "1")
    assert run(app, *args) == (0, "2026-10-09T23:59:59+08:00\n")


@pytest.mark.parametrize(
    "extra",
    [(), ("--working-days", "3", "--hours", "24")],
    ids=["neither", "both"],
)
def test_due_needs_exactly_one_length(
    app: typer.Typer, policy_file: Path, extra: tuple[str, ...]
) -> None:
    code, output = run(app, "due", "--from", "2026-09-30", *extra, "--policy", str(policy_file))
    assert code == 2
    assert "exactly one of --working-days or --hours" in output


def test_due_refuses_a_moment_that_is_not_iso(app: typer.Typer, policy_file: Path) -> None:
    code, output = run(
        app, "due", "--from", "30/09/2026", "--hours", "24", "--policy", str(policy_file)
    )
    assert code == 2
    assert "not an ISO 8601 moment" in output


def test_calendar_json(app: typer.Typer, policy_file: Path) -> None:
    code, output = run(app, "calendar", "--year", "2026", "--json", "--policy", str(policy_file))
    assert code == 0
    days = json.loads(output)
    assert len(days) == 365
    by_date = {d["date"]: d for d in days}
    assert by_date["2026-10-10"] == {
        "date": "2026-10-10",
        "working": True,
        "reason": "make-up working day (调休)",
    }
    assert by_date["2026-10-01"] == {
        "date": "2026-10-01",
        "working": False,
        "reason": "National Day",
    }
    assert by_date["2026-10-11"] == {"date": "2026-10-11", "working": False, "reason": "weekend"}
    assert by_date["2026-10-12"] == {"date": "2026-10-12", "working": True, "reason": "working day"}
    # 248 working days in 2026, counted by hand in test_workdays.py.
    assert sum(d["working"] for d in days) == 248


OCTOBER_2026 = """\
October 2026 (18 working days)
  Mon  Tue  Wed  Thu  Fri  Sat  Sun
                  1*   2*   3*   4.
   5*   6*   7*   8    9   10+  11.
  12   13   14   15   16   17.  18.
  19   20   21   22   23   24.  25.
  26   27   28   29   30   31.
  2026-10-01 Thu off     National Day / 国庆节
  2026-10-02 Fri off     National Day / 国庆节
  2026-10-03 Sat off     National Day / 国庆节
  2026-10-05 Mon off     National Day (observed) / 国庆节（补假）
  2026-10-06 Tue off     Day off (substituted from 09/20/2026) / 休息日（由 2026-09-20 调休）
  2026-10-07 Wed off     Day off (substituted from 10/10/2026) / 休息日（由 2026-10-10 调休）
  2026-10-10 Sat working make-up working day (调休) / 调休上班
"""


def test_calendar_text(app: typer.Typer, policy_file: Path) -> None:
    code, output = run(app, "calendar", "--year", "2026", "--policy", str(policy_file))
    assert code == 0
    header, legend, *_ = output.splitlines()
    assert header == "2026: 248 working days (CN, Asia/Shanghai)"
    assert legend.startswith("Legend:")
    # October: 22 weekdays minus Oct 1, 2, 5, 6, 7 off, plus Sat Oct 10 = 18 working days.
    months = output.split("\n\n")
    assert months[10] + "\n" == OCTOBER_2026
