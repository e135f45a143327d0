"""The App: settings, policy and what follows from them, built once per process.

`workers.wiring.start` builds or receives it where a process starts and installs it here;
actors, which Dramatiq calls with ids only, read it with `current_app()`. Everything else takes
the App as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from config.policy import Policy, load_policy
from config.settings import Settings, get_settings, previous_secret_keys
from workers.clock.workdays import WorkCalendar


@dataclass(frozen=True)
class App:
    settings: Settings
    policy: Policy

    @property
    def db_url(self) -> str:
        return self.settings.database_url

    @property
    def secret(self) -> str:
        """The key that signs reply addresses (never empty: an empty key signs for anyone)."""
        key = self.settings.secret_key
        if key is None or not key.get_secret_value():
            raise RuntimeError("COMPLAINTDESK_SECRET_KEY is not set")
        return key.get_secret_value()

    @cached_property
    def verify_secrets(self) -> tuple[str, ...]:
        """The keys a reply address may be signed with: the current one, then the previous."""
        return (self.secret, *previous_secret_keys(self.settings))

    @cached_property
    def own_addresses(self) -> frozenset[str]:
        return frozenset({self.settings.intake_address.lower()})

    @cached_property
    def calendar(self) -> WorkCalendar:
        return WorkCalendar.from_policy(self.policy.calendar)

    @classmethod
    def from_settings(cls, settings: Settings) -> App:
        return cls(settings=settings, policy=load_policy(settings.policy_file))


_installed: App | None = None


def current_app() -> App:
    """The App this process was started with (workers.wiring.start)."""
    if _installed is None:
        raise RuntimeError("no App installed: start the process through workers.wiring.start")
    return _installed


def installed_app() -> App | None:
    """The App installed in this process, if any (the CLI builds its own otherwise)."""
    return _installed


def installed_or_from_environment() -> App:
    """For a command run on its own: the App installed in this process (a test, the demo), else
    one built from the environment."""
    return _installed or App.from_settings(get_settings())


def install(app: App | None) -> None:
    """Only workers.wiring calls this."""
    global _installed
    _installed = app
