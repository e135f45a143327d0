"""The names a complainant gives themselves in their text: "我是王建国", "本人李明", a sign-off
"此致 敬礼 王建国" or "谢谢！陈晓东", "投诉人：王建国", "Regards, Wang Jianguo", "My name is John
Smith". Redaction masks them wherever they occur, also when the From header has no name.

A Chinese name is the word jieba cuts right after the cue when it has two to four characters,
starts with a common family name and is rare in jieba's dictionary (names are; 商家, 钱包 and
马上 are not), without a title (王经理 is someone else): "我是一名老用户" gives none. jieba's
part-of-speech tagger would say "nr" itself, but its tables cost a worker 50 MB. English names
are capitalised words after the cue. Linear: one regex pass finds the cues, and at most
MAX_CUES short windows are segmented.
"""

from __future__ import annotations

import re

from workers.mail.textnorm import segmenter, to_simplified

MAX_CUES = 50
_WINDOW = 8  # characters after a Chinese cue: a name has at most four
# Family names of most of the population (simplified; the text is converted first).
_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞"
    "左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕"
    "屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧"
    "闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
_COMPOUND_SURNAMES = {
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "司徒",
    "夏侯", "轩辕", "长孙", "宇文", "端木", "南宫", "独孤", "西门", "澹台", "万俟", "呼延",
}  # fmt: skip
_MAX_NAME_FREQ = 50  # jieba dictionary counts: 王建国 12, 刘德华 37; 钱包 98, 商家 376
_TITLES = re.compile(r"(经理|先生|女士|小姐|老师|师傅|律师|医生|主任|总|局长|处长|科长|部长)$")
_HAN = re.compile(r"^[\u3400-\u9fff]+$")
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


def chinese_name(window: str) -> str | None:
    """The name at the start of `window`, if the word there looks like one (module doc)."""
    simplified_window = to_simplified(window)  # 陳曉東 is cut as 陈晓东 is
    words = segmenter().lcut(simplified_window)
    if not words:
        return None
    word = words[0]
    if word in _COMPOUND_SURNAMES and len(words) > 1 and _HAN.match(words[1]):
        word += words[1] if len(words[1]) <= 2 else ""
    family = word[:2] if word[:2] in _COMPOUND_SURNAMES else word[:1]
    if not (2 <= len(word) <= 4 and _HAN.match(word) and len(word) > len(family)):
        return None
    if family not in _SURNAMES and family not in _COMPOUND_SURNAMES:
        return None
    if _TITLES.search(word) or _ZH_CUE.fullmatch(word):
        return None
    if (segmenter().FREQ.get(word) or 0) > _MAX_NAME_FREQ:
        return None
    # As written: the window's own characters, when conversion kept their number.
    written = window[: len(word)]
    return written if to_simplified(written) == word else word


def names_in(text: str) -> tuple[str, ...]:
    """The names the writer gives for themselves, in order, each once."""
    found: list[str] = []
    for count, cue in enumerate(_ZH_CUE.finditer(text)):
        if count >= MAX_CUES:
            break
        name = chinese_name(text[cue.end() : cue.end() + _WINDOW])
        if name is not None:
            found.append(name)
    for count, cue in enumerate(_EN_CUE.finditer(text)):
        if count >= MAX_CUES:
            break
        words = re.split(r"[ -]", cue.group("name"))
        while words and words[-1].lower() in _NOT_NAMES:
            words.pop()
        if words and words[0].lower() not in _NOT_NAMES:
            found.append(" ".join(words))
    return tuple(dict.fromkeys(found))
