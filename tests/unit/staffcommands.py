"""Helpers for the command tests: parsing with the shipped policy file's words."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from config.policy import load_policy
from config.settings import PROJECT_ROOT
from workers.casework import command_parse
from workers.casework.command_parse import Command, CommandMail, help_text, vocabulary_of

# The shipped policy's categories and severity words; any id for #assign, unless a test says.
VOCABULARY = replace(
    vocabulary_of(load_policy(PROJECT_ROOT / "config" / "policy.toml")), assignees=None
)
HELP_TEXT = {language: help_text(language, VOCABULARY) for language in ("zh-CN", "en")}


def parse_command_mail(
    body: str,
    *,
    categories: Collection[str] | None = None,
    assignees: Collection[str] | None = None,
) -> CommandMail:
    """`categories` replaces the policy's codes (without Chinese words); `assignees` are the
    ids #assign accepts."""
    vocabulary = replace(VOCABULARY, assignees=assignees)
    if categories is not None:
        vocabulary = replace(vocabulary, categories={code: () for code in categories})
    return command_parse.parse_command_mail(body, vocabulary)


def parse_command_line(line: str) -> Command:
    return command_parse.parse_command_line(line, VOCABULARY)
