"""Render a reply from its templates: subject, text and HTML from one explicit context.

Templates live in templates/<language>/<kind>.{subject,txt,html}.j2. Mail data only ever enters
as context values, never as template source, and the HTML is autoescaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from config.settings import PROJECT_ROOT
from workers.textnorm import to_traditional

TEMPLATES_DIR = PROJECT_ROOT / "templates"


@dataclass(frozen=True)
class RenderedReply:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=1)
def template_env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def template_language(language: str, available: list[str]) -> str:
    if language in available:
        return language
    base = language.split("-")[0]
    return next((lang for lang in available if lang.split("-")[0] == base), available[0])


# Readers of traditional characters: our zh-CN templates, converted (OpenCC s2t), serve them.
TRADITIONAL_CHINESE = ("zh-TW", "zh-HK", "zh-MO", "zh-Hant")


def in_traditional_characters(rendered: RenderedReply) -> RenderedReply:
    return RenderedReply(subject=to_traditional(rendered.subject),
                         text=to_traditional(rendered.text), html=to_traditional(rendered.html))


def render_reply(kind: str, language: str, context: dict[str, Any]) -> RenderedReply:
    env = template_env()
    subject = env.get_template(f"{language}/{kind}.subject.j2").render(context)
    return RenderedReply(
        subject=" ".join(subject.split()),
        text=env.get_template(f"{language}/{kind}.txt.j2").render(context),
        html=env.get_template(f"{language}/{kind}.html.j2").render(context),
    )
