"""Normalise complaint text so that one spelling of a word matches all of its forms.

Traditional → simplified Chinese (OpenCC t2s), full-width → half-width (NFKC), lower case,
whitespace folded; `tokens` then segments with jieba. Classification and the model read the
result, never the raw text.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from bisect import bisect_right
from functools import lru_cache
from typing import Literal

import jieba
import opencc

_SPACE = re.compile(r"\s+")
_HAN = re.compile(r"[\u3400-\u9fff]")

Script = Literal["zh-Hans", "zh-Hant", "en"]


@lru_cache(maxsize=4)
def opencc_converter(config: str) -> opencc.OpenCC:
    """One OpenCC converter per configuration a process uses: loading one reads its tables."""
    return opencc.OpenCC(config)


def _converter() -> opencc.OpenCC:
    return opencc_converter("t2s")


def segmenter() -> jieba.Tokenizer:
    """jieba's tokenizer, its dictionary loaded once per process."""
    return _segmenter()


@lru_cache(maxsize=1)
def _segmenter() -> jieba.Tokenizer:
    # jieba logs its dictionary loading on every process start; we want it quiet.
    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba.dt


@lru_cache(maxsize=1)
def _convertible() -> frozenset[str] | None:
    """Every character that some t2s dictionary entry changes (None if the dictionaries'
    layout is not the one we know).

    An entry can only change text that contains the entry's changed characters, so text with
    none of them (most simplified-Chinese and English mail) converts to itself.
    """
    converter = _converter()
    converter.convert("")  # loads the dictionaries
    chars: set[str] = set()
    try:
        for chain in converter._dict_chain_data:
            for _longest, _shortest, table in chain:
                for key, candidates in table.items():
                    value = candidates.split(" ")[0]  # the converter takes the first candidate
                    if value == key:
                        continue
                    if len(value) == len(key):
                        chars.update(k for k, v in zip(key, value, strict=True) if k != v)
                    else:  # a different length: every character counts
                        chars.update(key)
    except (AttributeError, TypeError, ValueError):
        return None
    return frozenset(chars) or None


# Traditional when at least this share of the Han characters is one t2s changes: simplified
# mail has a stray one now and then (乾, 著 in names), traditional mail has a third or more.
_TRADITIONAL_SHARE = 0.1


def is_traditional(text: str) -> bool:
    """Whether Chinese text is written in traditional characters (Taiwan, Hong Kong, Macau)."""
    han = _HAN.findall(text)
    if not han:
        return False
    convertible = _convertible()
    if convertible is None:
        changed = sum(a != b for a, b in zip(text, to_simplified(text), strict=False))
    else:
        changed = sum(ch in convertible for ch in han)
    return changed >= _TRADITIONAL_SHARE * len(han)


# Where OpenCC's longest match splits a phrase wrongly: 直接回复 → 直接回複 (接回 matched first).
_TRADITIONAL_FIXES = {"回複": "回覆"}


def to_traditional(text: str) -> str:
    """OpenCC s2tw: our simplified-Chinese replies for a reader of traditional characters."""
    # Taiwan's standard forms (為, 核實), which Hong Kong and Macau readers read as well.
    text = opencc_converter("s2tw").convert(text)
    for wrong, right in _TRADITIONAL_FIXES.items():
        text = text.replace(wrong, right)
    return text


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return _SPACE.sub(" ", to_simplified(text).lower()).strip()


def to_simplified(text: str) -> str:
    """OpenCC t2s, run only on the stretches that have a character it would change.

    The pure-Python converter costs ~2 ms on a complaint; most stretches of simplified-Chinese
    and English mail have no such character. The stretches are the converter's own (it never
    matches across its separators), so the result is the same as converting all of it.
    """
    converter, convertible = _converter(), _convertible()
    if convertible is None:
        return converter.convert(text)
    if convertible.isdisjoint(text):
        return text
    parts = converter.split_chars_re.split(text)
    for i in range(0, len(parts), 2):  # odd indices are the separators
        if not convertible.isdisjoint(parts[i]):
            parts[i] = converter.convert(parts[i])  # a stretch holds no separator to split at
    return "".join(parts)


def segment(normalised: str) -> list[str]:
    """Words of already normalised text, without spaces and punctuation."""
    return [w for w in _segmenter().lcut(normalised) if w.strip() and not _is_punctuation(w)]


@lru_cache(maxsize=16)
def word_bounds(normalised: str) -> frozenset[int]:
    """Offsets in already normalised text where a word of jieba's segmentation starts or ends.

    Dictionary words only (no HMM): a run jieba does not know stays single characters, so it
    never swallows the edge of a keyword. Cached: every rule of one classification asks.
    """
    return frozenset({0}) | _word_ends(normalised)


def _word_ends(text: str) -> frozenset[int]:
    return frozenset(end for _word, _start, end in _segmenter().tokenize(text, HMM=False))


# jieba cuts the text into runs of these characters (jieba.re_han_default) and segments each
# run on its own, so the word boundaries inside a run depend on that run alone.
_RUN = jieba.re_han_default


_run_bounds = lru_cache(maxsize=4096)(_word_ends)  # runs recur across complaints


@lru_cache(maxsize=16)
def _runs(normalised: str) -> tuple[list[int], list[int]]:
    """(starts, ends) of jieba's runs in the text, in order: one pass per text, which every
    keyword hit of one classification then finds its run in by bisection."""
    spans = [m.span() for m in _RUN.finditer(normalised)]
    return [s for s, _ in spans], [e for _, e in spans]


@lru_cache(maxsize=4096)
def _bounds_of_run(normalised: str, left: int, right: int) -> frozenset[int]:
    # Keyed by the text (its hash is computed once) and the run's place: a hit costs no
    # copy of its run, and each run is segmented once however many hits it holds.
    return frozenset({left, *(left + i for i in _run_bounds(normalised[left:right]))})


def word_bounds_near(normalised: str, start: int, end: int) -> frozenset[int]:
    """word_bounds(normalised), right for offsets start..end: only the run holding them is
    segmented, once per text. Segmenting a whole complaint cost 2–4 ms for every text with a
    keyword hit, and walking to the run's edges for every hit made a long run quadratic."""
    if start >= end or not _RUN.fullmatch(normalised, start, end):
        return word_bounds(normalised)
    starts, ends = _runs(normalised)
    i = bisect_right(starts, start) - 1
    if i < 0 or ends[i] < end:  # cannot happen: a stretch of run characters lies in one run
        return word_bounds(normalised)
    return _bounds_of_run(normalised, starts[i], ends[i])


def tokens(text: str) -> list[str]:
    return segment(normalise(text))


def script(text: str) -> Script:
    """Traditional Chinese (`is_traditional`), simplified when it has other Han characters,
    English otherwise: how the labelled complaints and the figures are grouped."""
    text = unicodedata.normalize("NFKC", text)
    if not _HAN.search(text):
        return "en"
    return "zh-Hant" if is_traditional(text) else "zh-Hans"


def _is_punctuation(word: str) -> bool:
    return all(unicodedata.category(ch).startswith("P") for ch in word)
