"""Settings read from the environment: the variable names are a public contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import PROJECT_ROOT, Settings


@pytest.mark.parametrize(
    ("value", "on"),
    [("true", True), ("1", True), ("YES", True), ("True", True),
     ("", False), ("false", False), ("0", False), ("on", False), ("ture", False)],
)  # fmt: skip
def test_worker_metrics_is_on_only_for_1_true_or_yes(
    monkeypatch: pytest.MonkeyPatch, value: str, on: bool
) -> None:
    monkeypatch.setenv("COMPLAINTDESK_WORKER_METRICS", value)
    assert Settings().worker_metrics is on


def test_worker_metrics_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPLAINTDESK_WORKER_METRICS", raising=False)
    assert Settings().worker_metrics is False


def test_model_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("COMPLAINTDESK_MODEL_PATH", raising=False)
    assert Settings().model_path == PROJECT_ROOT / "var" / "classifier.pkl"
    monkeypatch.setenv("COMPLAINTDESK_MODEL_PATH", str(tmp_path / "m.pkl"))
    assert Settings().model_path == tmp_path / "m.pkl"
