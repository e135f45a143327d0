"""The names a complainant gives themselves in their text: "我是王建国", "本人李明", a sign-off
"此致 敬礼 王建国" or "谢谢！陈晓东", "投诉人：王建国", "Regards, Wang Jianguo", "My name is John
Smith". Redaction masks them wherever they occur, also when the From header has no name.

Chinese names are the words jieba tags as a person's name (nr) right after the cue, so "我是一
名老用户" gives none; English ones are capitalised words after the cue. Linear: one regex pass
finds the cues, and at most MAX_CUES short windows are segmented.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

import jieba
import jieba.posseg

MAX_CUES = 50
_WINDOW = 8  # characters after a Chinese cue: a name has at most four
_ZH_CUE = re.compile(
    r"(?:我是|我叫|本人|此致|敬礼|敬禮|谢谢|謝謝|感谢|感謝|多谢|多謝|顺祝|順祝|祝好|"
    r"投诉人|投訴人|举报人|舉報人|姓名|联系人|聯繫人|聯絡人|署名|落款)"
    r"[\s:：,，.。!！、]*"
)
_EN_NAME = r"(?P<name>[A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,2})"
_EN_CUE = re.compile(
    r"(?:\b(?:[Rr]egards|[Ss]incerely|[Tt]hanks|[Tt]hank you|[Bb]est|[Cc]heers|[Yy]ours)"
    r"[ \t]*[,!.]?[ \t]*\n?[ \t]*"
    r"|\b(?:[Mm]y name is|I am|I'm|[Tt]his is)[ \t]+)" + _EN_NAME + r"\b"
)
# Capitalised words after a cue that are not names.
_NOT_NAMES = {
    "the", "a", "an", "i", "we", "you", "your", "our", "my", "this", "that", "it", "he", "she",
    "customer", "customers", "service", "team", "support", "regards", "wishes", "very",
    "not", "writing", "sorry", "still", "so", "also", "here", "now", "again", "dear", "mr",
    "mrs", "ms", "sir", "madam", "thanks", "thank", "best", "kind", "from", "in", "on",
}  # fmt: skip


@lru_cache(maxsize=1)
def _tagger() -> jieba.posseg.POSTokenizer:
    jieba.setLogLevel(logging.WARNING)
    return jieba.posseg.dt


def names_in(text: str) -> tuple[str, ...]:
    """The names the writer gives for themselves, in order, each once."""
    found: list[str] = []
    for count, cue in enumerate(_ZH_CUE.finditer(text)):
        if count >= MAX_CUES:
            break
        window = text[cue.end() : cue.end() + _WINDOW]
        words = _tagger().lcut(window) if window else []
        first = words[0] if words else None
        if (
            first is not None
            and first.flag.startswith("nr")
            and 2 <= len(first.word) <= 4
            and not _ZH_CUE.fullmatch(first.word)  # 此致 敬礼: the second sign-off word
        ):
            found.append(first.word)
    for count, cue in enumerate(_EN_CUE.finditer(text)):
        if count >= MAX_CUES:
            break
        words = re.split(r"[ -]", cue.group("name"))
        while words and words[-1].lower() in _NOT_NAMES:
            words.pop()
        if words and words[0].lower() not in _NOT_NAMES:
            found.append(" ".join(words))
    return tuple(dict.fromkeys(found))
