"""Text normalisation: one spelling for traditional, full-width and mixed-case text."""

from __future__ import annotations

import time

import pytest

from workers.mail.textnorm import normalise, script, tokens, word_bounds, word_bounds_near


def test_traditional_becomes_simplified() -> None:
    assert normalise("貴公司洩露了我的個人資料") == "贵公司泄露了我的个人资料"


def test_full_width_becomes_half_width_and_lower_case() -> None:
    assert normalise("ＲＭＢ　１２，０００ ＡＰＰ") == "rmb 12,000 app"


def test_whitespace_is_folded() -> None:
    assert normalise("  refund\n\n\tnot   received ") == "refund not received"


def test_tokens_are_words_without_punctuation_or_spaces() -> None:
    words = tokens("網絡公司洩露個人信息！Refund NOT received.")
    assert "泄露" in words
    assert "refund" in words and "received" in words
    assert not {"！", "!", ".", " "} & set(words)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你们泄露了我的个人信息", "zh-Hans"),
        ("你們洩露了我的個人資料", "zh-Hant"),
        ("Your app leaked my data", "en"),
        ("Refund not received, 退款还没到账", "zh-Hans"),
        ("ＲＥＦＵＮＤ ２０２４", "en"),
    ],
)
def test_script_tells_simplified_traditional_and_english(text: str, expected: str) -> None:
    assert script(text) == expected


def test_word_bounds_are_where_jieba_words_start_and_end() -> None:
    assert word_bounds("好多位置") == {0, 2, 4}  # 好多|位置
    assert word_bounds("abc 退款") == {0, 3, 4, 6}


def test_normalising_a_mail_is_fast() -> None:
    tokens("预热")  # loads jieba's dictionary once, as a worker process would
    text = "我在貴公司APP註冊後，每天都會收到各種貸款推銷短信，懷疑是你們洩露了我的手機號。" * 5
    start = time.perf_counter()
    for _ in range(100):
        tokens(text)
    per_mail = (time.perf_counter() - start) / 100
    print(f"normalise + segment: {per_mail * 1000:.2f} ms per mail")
    assert per_mail < 0.02


def test_converting_only_the_stretches_that_need_it_gives_what_the_converter_gives() -> None:
    """to_simplified skips stretches without a character OpenCC t2s would change; the result
    must be the converter's own, on mixed, traditional, simplified and English text."""
    import json
    from pathlib import Path

    from workers.mail.textnorm import _converter, to_simplified

    data = Path(__file__).resolve().parent.parent / "data" / "complaints.jsonl"
    samples = [json.loads(line)["text"] for line in data.read_text(encoding="utf-8").splitlines()]
    samples += [
        "情有獨鍾，我們的寬帶連續三天斷網。",
        "乾乾淨淨 一目瞭然；書中自有千鍾粟",
        "宽带连续三天断网，客服电话打不通",
        "Refund not received, 退款還沒到賬！",
    ]
    converter = _converter()
    assert [to_simplified(t) for t in samples] == [converter.convert(t) for t in samples]
    assert to_simplified("我們的寬帶") == "我们的宽带"


def test_the_characters_t2s_changes_are_read_from_the_converter() -> None:
    """_convertible reads OpenCC's loaded dictionaries (no public API has them); when their
    layout changes it gives None and to_simplified quietly converts everything, 2 ms a mail."""
    from workers.mail.textnorm import _convertible

    convertible = _convertible()
    assert convertible is not None
    assert {"們", "寬", "帶", "網"} <= convertible
    assert not {"们", "宽", "带", "网", "a"} & convertible


def test_bounds_near_a_hit_are_the_whole_texts_bounds_there() -> None:
    """Segmenting only the run around a keyword hit gives the boundaries that segmenting the
    whole complaint gives, for every short window of every labelled complaint."""
    import json
    from pathlib import Path

    data = Path(__file__).resolve().parent.parent / "data" / "complaints.jsonl"
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    checked = 0
    for row in rows[::4]:
        text = normalise(" ".join(v for v in row.values() if isinstance(v, str)))
        full = word_bounds(text)
        for start in range(len(text)):
            for end in range(start + 1, min(len(text), start + 4) + 1):
                near = word_bounds_near(text, start, end)
                window = range(start, end + 1)
                assert [i in near for i in window] == [i in full for i in window], (text, start)
                checked += 1
    assert checked > 10_000
