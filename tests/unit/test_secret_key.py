"""Issue 11 item 7: no secret key has a default. The processes that sign or verify reply
addresses refuse to start without a usable key; read-only commands need none; old keys keep
verifying after a rotation but never sign."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import PROJECT_ROOT, Settings, secret_key_problem
from workers.app import App
from workers.mail.tokens import read_reply_address, reply_address

INTAKE = "complaints@example.org"
GOOD = "kP3x9Qv7LmZ2wR8tY4uN6bH1jC5dF0gA"  # 32 bytes, random-looking
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "key",
    [None, "", "change-me-in-production", "changeme", "secret", "CHANGEME",
     "short-but-random-9f8e7d", "x" * 40, "change-me-in-production-please-0123456789"],
)  # fmt: skip
def test_unusable_keys_are_named(key: str | None) -> None:
    assert secret_key_problem(key) is not None


def test_a_long_random_key_is_accepted() -> None:
    assert secret_key_problem(GOOD) is None
    assert secret_key_problem(os.urandom(24).hex()) is None


def test_settings_have_no_default_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPLAINTDESK_SECRET_KEY", raising=False)
    settings = Settings()
    assert settings.secret_key is None
    with pytest.raises(RuntimeError, match="COMPLAINTDESK_SECRET_KEY"):
        _ = App.from_settings(settings).secret


def _env(tmp_path: Path, key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINTDESK_")}
    env["COMPLAINTDESK_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cd.db'}"
    env["COMPLAINTDESK_BROKER_URL"] = "stub"
    # Nothing listens there: a process that got past the key check would fail differently.
    env["COMPLAINTDESK_IMAP__HOST"] = "127.0.0.1"
    env["COMPLAINTDESK_IMAP__PORT"] = "9"
    if key is not None:
        env["COMPLAINTDESK_SECRET_KEY"] = key
    return env


PROCESSES = {
    "poller": [str(BIN / "complaintdesk"), "poller", "--once"],
    "scheduler": [str(BIN / "complaintdesk"), "scheduler", "--once"],
    "worker": [str(BIN / "dramatiq"), "workers.worker", "--processes", "1", "--threads", "1"],
}


@pytest.mark.parametrize("process", sorted(PROCESSES))
@pytest.mark.parametrize("key", [None, "", "change-me-in-production", "secret", "too-short-key"])
def test_processes_refuse_to_start_without_a_usable_key(
    tmp_path: Path, process: str, key: str | None
) -> None:
    done = subprocess.run(
        PROCESSES[process],
        cwd=PROJECT_ROOT,
        env=_env(tmp_path, key),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if line.startswith("complaintdesk:")]
    assert len(ours) == 1 and "COMPLAINTDESK_SECRET_KEY" in ours[0], done.stderr
    assert "Traceback" not in done.stderr


def test_read_only_commands_need_no_key(tmp_path: Path) -> None:
    env = _env(tmp_path, None)
    cli = str(BIN / "complaintdesk")
    for args in (["db", "upgrade"], ["cases", "list", "--json"], ["staff", "list"]):
        done = subprocess.run(
            [cli, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (args, done.stderr)


def test_previous_keys_verify_but_never_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = "old-" + "a1b2c3d4e5f6g7h8" * 2, "new-" + "z9y8x7w6v5u4t3s2" * 2
    monkeypatch.setenv("COMPLAINTDESK_SECRET_KEY", new)
    monkeypatch.setenv("COMPLAINTDESK_SECRET_KEY_PREVIOUS", f"{old}, older-{old}")
    app = App.from_settings(Settings())
    assert app.verify_secrets == (new, old, f"older-{old}")
    sent_before = reply_address(INTAKE, old, "TS-2026-000123")
    token = read_reply_address(sent_before, INTAKE, app.verify_secrets)
    assert token is not None and token.case_number == "TS-2026-000123"
    assert read_reply_address(sent_before, INTAKE, app.secret) is None
    assert reply_address(INTAKE, app.secret, "TS-2026-000123") != sent_before
    # An empty key in the list verifies nothing.
    assert read_reply_address(reply_address(INTAKE, "", "TS-1"), INTAKE, ("", new)) is None
