"""The one settings object, read from the environment (prefix COMPLAINTDESK_, nested with __).

The variable names are a public contract: operators and acceptance checks set them.
Build it with `Settings()` (or `get_settings()` for the cached process-wide one) and pass it on.
"""

from __future__ import annotations

import ipaddress
import sys
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ImapSettings(BaseModel):
    host: str = "localhost"
    port: int = 993
    username: str = ""
    password: SecretStr = SecretStr("")
    ssl: bool = True
    mailbox: str = "INBOX"
    # Empty: imported mail stays in `mailbox` and is flagged with `imported_keyword`.
    # A folder name: imported mail is moved there (UID MOVE when the server offers it).
    processed_mailbox: str = ""
    imported_keyword: str = "$ComplaintdeskImported"
    fetch_batch: int = 100
    poll_interval: float = 30.0  # seconds between polls when the server has no IDLE
    idle_timeout: float = 60.0  # re-issue IDLE at least this often (RFC 2177 says < 29 min)
    timeout: float = 30.0


class SmtpSettings(BaseModel):
    host: str = "localhost"
    port: int = 587  # submission (RFC 6409), where STARTTLS is the rule
    username: str = ""
    password: SecretStr = SecretStr("")
    # STARTTLS (RFC 3207) unless told otherwise; `ssl` is implicit TLS (port 465, RFC 8314).
    starttls: bool = True
    ssl: bool = False
    timeout: float = 30.0

    @property
    def tls(self) -> bool:
        return self.ssl or self.starttls

    def may_log_in(self) -> bool:
        """Whether AUTH may be sent on this connection: only over TLS, or to this machine
        (a loopback relay or test sink), where no network carries the password."""
        return self.tls or is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or the name localhost (RFC 6761 s6.3), never resolved."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="COMPLAINTDESK_", env_nested_delimiter="__", extra="ignore"
    )

    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'complaintdesk.db'}"
    # `redis://host:port/db` in production; `stub` runs Dramatiq's in-process StubBroker.
    broker_url: str = "stub"
    imap: ImapSettings = ImapSettings()
    smtp: SmtpSettings = SmtpSettings()
    intake_address: str = "complaints@example.org"
    intake_name: str = "投诉受理中心 Complaints Desk"
    # Signs the reply tokens. No default: the poller, worker and scheduler refuse to start
    # without a key of their own (`secret_key_problem`); commands that only read need none.
    secret_key: SecretStr | None = None
    # Earlier keys, comma-separated: reply addresses signed under them still verify (never
    # used to sign), so a rotated key does not orphan the addresses in mail already sent.
    secret_key_previous: SecretStr = SecretStr("")
    attachments_dir: Path = PROJECT_ROOT / "var" / "attachments"
    policy_file: Path = PROJECT_ROOT / "config" / "policy.toml"
    # When set, outgoing mail is written as .eml files to this folder instead of SMTP (demo).
    outbox_dir: Path | None = None
    # Seconds a committed-but-unfinished row waits before the sweeper enqueues it again.
    sweep_grace: float = 60.0
    sweep_interval: float = 30.0
    # Mails per ingest message (PostgreSQL): one transaction and one broker round trip for
    # many mails. Smaller batches spread a fetch over more worker threads.
    ingest_batch: int = Field(default=20, ge=1, le=500)
    # The learned classifier: `complaintdesk classify --retrain` writes it, the workers read it.
    model_path: Path = PROJECT_ROOT / "var" / "classifier.pkl"
    # Run Dramatiq's own Prometheus exporter in the workers (dramatiq_prom_port, 9191).
    worker_metrics: bool = False

    @field_validator("worker_metrics", mode="before")
    @classmethod
    def _on_words(cls, value: object) -> object:
        # As the variable was always read: 1, true or yes (any case) turn it on, anything else
        # (empty, "off", a typo) leaves it off rather than stopping the worker.
        return value.strip().lower() in ("1", "true", "yes") if isinstance(value, str) else value


MIN_SECRET_BYTES = 32
# Keys published in examples, old defaults and tutorials: anyone can sign with them.
KNOWN_PLACEHOLDERS = frozenset(
    {
        "change-me-in-production",
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "secret-key",
        "secret_key",
        "password",
        "default",
        "test",
        "example",
        "your-secret-key",
        "replace-me",
    }
)
_PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "replace-me", "your-secret", "example")


def secret_key_problem(key: str | None) -> str | None:
    """Why `key` cannot sign reply addresses (None: it can). A forger who knows or guesses the
    key signs any staff reply address, so an unset, short or published key is refused."""
    if not key:
        return "COMPLAINTDESK_SECRET_KEY is not set"
    lowered = key.strip().lower()
    if lowered in KNOWN_PLACEHOLDERS or any(w in lowered for w in _PLACEHOLDER_WORDS):
        return "COMPLAINTDESK_SECRET_KEY is a published placeholder"
    if len(key.encode()) < MIN_SECRET_BYTES:
        return f"COMPLAINTDESK_SECRET_KEY is shorter than {MIN_SECRET_BYTES} bytes"
    if len(set(key)) < 8:
        return "COMPLAINTDESK_SECRET_KEY repeats too few characters to be random"
    return None


def previous_secret_keys(settings: Settings) -> list[str]:
    """COMPLAINTDESK_SECRET_KEY_PREVIOUS, split on commas."""
    value = settings.secret_key_previous.get_secret_value()
    return [k.strip() for k in value.split(",") if k.strip()]


def require_secret_key(settings: Settings) -> None:
    """For the processes that sign or verify reply addresses (poller, worker, scheduler): stop
    with one line on stderr and a non-zero status when the key cannot be used."""
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    problem = secret_key_problem(key)
    if problem is not None:
        print(
            f"complaintdesk: {problem}; set it to a random value of at least "
            f"{MIN_SECRET_BYTES} bytes (e.g. `openssl rand -base64 48`)",
            file=sys.stderr,
        )
        raise SystemExit(2)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
