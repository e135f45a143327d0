"""Render a reply from its templates: subject, text and HTML from one explicit context.

Templates live in templates/<language>/<kind>.{subject,txt,html}.j2. Mail data only ever enters
as context values, never as template source, and the HTML is autoescaped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from config.settings import PROJECT_ROOT
from workers.mail.textnorm import to_traditional

TEMPLATES_DIR = PROJECT_ROOT / "templates"


@dataclass(frozen=True)
class RenderedReply:
    subject: str
    text: str
    html: str


class TraditionalLoader(FileSystemLoader):
    """The same templates, in traditional characters: converted once, when first loaded."""

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        return to_traditional(source), filename, uptodate


def traditional_value(value: Any) -> Any:
    """What a `{{ ... }}` of a traditional template prints: our own simplified strings (the
    stage, the organisation) converted, markup kept as markup."""
    if isinstance(value, Markup):
        return Markup(to_traditional(str(value)))
    return to_traditional(value) if isinstance(value, str) else value


def _environment(traditional: bool) -> Environment:
    return Environment(
        loader=(TraditionalLoader if traditional else FileSystemLoader)(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=traditional_value if traditional else None,
    )


@lru_cache(maxsize=1)
def template_env() -> Environment:
    return _environment(traditional=False)


@lru_cache(maxsize=1)
def traditional_template_env() -> Environment:
    """The zh-CN templates converted to traditional characters once, when loaded; only the
    values a template prints are converted per reply (OpenCC is pure Python and slow)."""
    return _environment(traditional=True)


def template_language(language: str, available: list[str]) -> str:
    if language in available:
        return language
    base = language.split("-")[0]
    return next((lang for lang in available if lang.split("-")[0] == base), available[0])


def is_english(language: str) -> bool:
    """Whether a language tag ("en", "en-GB", "zh-CN") asks for the English wording: the one
    test behind every bilingual label and letter."""
    return language.lower().startswith("en")


# Readers of traditional characters: our zh-CN templates, converted (OpenCC s2t), serve them.
TRADITIONAL_CHINESE = ("zh-TW", "zh-HK", "zh-MO", "zh-Hant")


def render_reply(
    kind: str,
    language: str,
    context: dict[str, Any],
    traditional: bool = False,
    subject_context: dict[str, Any] | None = None,
) -> RenderedReply:
    """`traditional`: the zh-CN templates for a reader of traditional characters (OpenCC
    s2tw), the same as converting the rendered reply. `subject_context`: the context of the
    subject line, when it differs (workers.outbound.outbox defangs the sender's words there)."""
    env = traditional_template_env() if traditional else template_env()
    subject = env.get_template(f"{language}/{kind}.subject.j2").render(subject_context or context)
    return RenderedReply(
        subject=" ".join(subject.split()),
        text=env.get_template(f"{language}/{kind}.txt.j2").render(context),
        html=env.get_template(f"{language}/{kind}.html.j2").render(context),
    )
