"""Categories, severities, classifier and routing sections of the policy file.

`[[categories]]`, `[severity]` with `[[severity.signals]]`, `[classifier]` and `[routing]` in
config/policy.toml. Every default is docs/process.md's, so a missing section is never an error.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

Severity = Literal["general", "important", "major"]
# Lowest first: severity only ever moves up this list (docs/process.md#severity: it errs upward).
SEVERITIES: tuple[Severity, ...] = ("general", "important", "major")
FALLBACK_CATEGORY = "other"


class Category(BaseModel):
    code: str
    name_zh: str
    name_en: str
    # Chinese words `#category` accepts for this code (the first is the one #help shows);
    # when absent, `name_zh` up to its first bracket.
    aliases_zh: list[str] = Field(default_factory=list)
    description: str = ""
    # Chinese keywords match inside a word but not across a word boundary (jieba); English
    # ones match whole words, `*` allows a suffix.
    keywords: list[str] = Field(default_factory=list)
    group: str = "intake"
    # The lowest severity a case of this category gets (seed 004: a product-quality complaint
    # is at least important).
    severity: Severity = "general"

    @property
    def words_zh(self) -> list[str]:
        """The Chinese words staff may write for this category, the one shown in #help first."""
        return self.aliases_zh or [re.split(r"[（(]", self.name_zh, maxsplit=1)[0].strip()]


class SeveritySignal(BaseModel):
    id: str
    description: str = ""
    level: Severity = "major"
    keywords: list[str] = Field(default_factory=list)
    # Regular expressions over the normalised text (simplified, lower-case, half-width).
    patterns: list[str] = Field(default_factory=list)


def _severity_words_zh() -> dict[Severity, list[str]]:
    return {"general": ["一般"], "important": ["重要"], "major": ["重大"]}


class SeverityPolicy(BaseModel):
    # Amounts are compared in yuan (CNY); other currencies convert at these rates.
    important_amount: float = 1000
    major_amount: float = 10000
    exchange_rates: dict[str, float] = Field(
        default_factory=lambda: {"CNY": 1.0, "USD": 7.2, "HKD": 0.92}
    )
    signals: list[SeveritySignal] = Field(default_factory=list)
    # Chinese words `#severity` accepts besides the level's English name (the first is the one
    # #help shows).
    words_zh: dict[Severity, list[str]] = Field(default_factory=_severity_words_zh)


class ClassifierPolicy(BaseModel):
    # The statistical model joins the rules only once trained on this many confirmed cases.
    min_examples: int = 50
    # Share of the model in the blended score; the rules keep the rest.
    model_weight: float = 0.5
    # Below this blended score, or closer than `min_margin` to the runner-up, the case goes
    # to `other` and is flagged for a human.
    min_confidence: float = 0.25
    min_margin: float = 0.05
    # Pseudo-count for "no category": one keyword alone scores 1 / (1 + rule_prior).
    rule_prior: float = 1.0


class RoutingPolicy(BaseModel):
    # The group that receives every case (docs/process.md: intake); a category whose group has no
    # staff is routed here too.
    intake_group: str = "intake"
    # Told at once of every case at or above `notify_leadership_at`.
    leadership_group: str = "leadership"
    notify_leadership_at: Severity = "major"
    # docs/process.md#confidentiality: groups other than intake see a pseudonym, not the
    # complainant's name or address, unless the operator allows it here.
    identity_visible_outside_intake: bool = False
    pseudonym_prefix: str = "投诉人"


def severity_rank(level: Severity) -> int:
    return SEVERITIES.index(level)
