"""The explicit wiring: settings + policy + database URL, built once and passed to stages."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from config.policy import Policy, load_policy
from config.settings import Settings, get_settings
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
        return self.settings.secret_key.get_secret_value()

    @cached_property
    def own_addresses(self) -> frozenset[str]:
        return frozenset({self.settings.intake_address.lower()})

    @cached_property
    def calendar(self) -> WorkCalendar:
        return WorkCalendar.from_policy(self.policy.calendar)

    @classmethod
    def from_settings(cls, settings: Settings) -> App:
        return cls(settings=settings, policy=load_policy(settings.policy_file))


_current: App | None = None


def get_app() -> App:
    """The process's App, built from the environment on first use (actors run in workers)."""
    global _current
    if _current is None:
        _current = App.from_settings(get_settings())
    return _current


def use_app(app: App | None) -> None:
    """Install the App that actors use in this process (the demo and tests do this)."""
    global _current
    _current = app
