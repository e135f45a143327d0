"""Hostile-text benchmark: the time of every text heuristic on one long, hostile mail.

Run on demand (not a test):

    uv run python bench/hostile_text.py
    uv run python bench/hostile_text.py --sizes 46k 300k --timeout 120 --json figures.json

What it does: builds texts of each size (UTF-8 bytes) in several shapes an attacker or an
unlucky complainant produces — one long run of Chinese keywords with no punctuation, an
ordinary complaint pasted over and over, long runs of digits, Chinese numerals, letters,
"a.a.a." and negated review cues, nested parentheses — and times, each in a child process
that is stopped after `--timeout` seconds (">N s" in the table):
- classify: `workers.triage.classify.classify` (the rules; no model);
- intent: `workers.casework.intent.complainant_intent`, in the review window;
- redact: `workers.mail.redact.redact` on the whole text, and the staff notification's
  excerpt (`StaffView.excerpt`), what routing actually runs;
- staff auth: `parse_authentication_results` on one Authentication-Results header holding
  the text.
Each figure is one call after a warm-up call on a short text (jieba's dictionary, OpenCC's
tables and the regexes load once per process). The worst shape per heuristic and size is the
figure that matters.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/hostile_text.py` as well as `-m bench.hostile_text`
    sys.path.insert(0, str(ROOT))

POLICY = ROOT / "config" / "policy.toml"

COMPLAINT = (
    "我于2026年3月在贵公司网店购买的电视机坏了，客服一直推诿，承诺的退款1,280元至今没有到账。"
    "商家泄露了我的个人信息，我每天接到推销电话和骚扰短信，要求尽快处理并赔偿。"
    "联系电话13812345678，邮箱wang.jianguo@example.com。\n"
)
SHAPES: dict[str, str] = {
    "han_run": "泄露宣传骚扰诈骗好多位置提起诉讼多位",
    "complaint": COMPLAINT,
    "digits": "1",
    "cn_numerals": "一",
    "latin": "a",
    "dots": "a.",
    "cues": "不要复查 ",
    "parens": "(",
}
# The shapes each heuristic is timed on.
USES: dict[str, tuple[str, ...]] = {
    "classify": ("han_run", "complaint", "digits", "cn_numerals", "latin", "dots"),
    "intent": ("han_run", "complaint", "cues", "latin", "digits"),
    "redact": ("complaint", "latin", "dots", "digits"),
    "excerpt": ("complaint", "latin", "dots"),
    "staff_auth": ("parens", "latin", "dots"),
}


def text_of(shape: str, size: int) -> str:
    if shape == "parens":  # nested comments: (((…)))
        half = size // 2
        return "(" * half + ")" * half
    unit = SHAPES[shape]
    per_unit = len(unit.encode("utf-8"))
    text = unit * (size // per_unit + 1)
    while len(text.encode("utf-8")) > size:
        text = text[: -max(1, (len(text.encode("utf-8")) - size) // 3)]
    return text


def heuristic(name: str) -> Callable[[str], Any]:
    if name == "classify":
        from config.policy import load_policy
        from workers.triage.classify import classify

        policy = load_policy(POLICY)
        return lambda text: classify(text, policy)
    if name == "intent":
        from workers.casework.intent import complainant_intent

        return lambda text: complainant_intent(text, "Re: [TS-2026-000001]", answering_result=True)
    if name in ("redact", "excerpt"):
        from workers.mail.redact import StaffView, redact

        view = StaffView("投诉人-ab12", hidden=True, name="王建国", email="wjg@example.com")
        if name == "excerpt":
            excerpt = getattr(view, "excerpt", None)
            if excerpt is None:  # before the excerpt helper: what staff_notice did
                return lambda text: view(text)[:3000]
            return lambda text: excerpt(text, 3000)
        return lambda text: redact(
            text, name="王建国", email="wjg@example.com", label="投诉人-ab12", withheld="[已隐去]"
        )
    if name == "staff_auth":
        from workers.casework.staff_auth import parse_authentication_results

        return lambda text: parse_authentication_results(f"mx.example.org; {text}; dkim=pass")
    raise ValueError(name)


def _child(name: str, shape: str, size: int, out: Any) -> None:
    run = heuristic(name)
    run(text_of(shape, 200))  # warm-up: dictionaries, tables, regexes
    text = text_of(shape, size)
    start = time.perf_counter()
    run(text)
    out.put(time.perf_counter() - start)


def measure(name: str, shape: str, size: int, timeout: float) -> float | None:
    """Seconds for one call, or None when it ran past `timeout`."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_child, args=(name, shape, size, out))
    child.start()
    child.join(timeout + 30)  # warm-up and imports come on top
    if child.is_alive():
        child.kill()
        child.join()
        return None
    return float(out.get()) if not out.empty() else None


def parse_size(value: str) -> int:
    value = value.lower()
    if value.endswith("k"):
        return int(float(value[:-1]) * 1024) if value.endswith("kib") else int(value[:-1]) * 1000
    return int(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["46k", "300k"], help="46k, 300k, 47104")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per figure")
    parser.add_argument("--only", nargs="*", default=list(USES), help="heuristics to time")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    figures: list[dict[str, Any]] = []
    print(f"{'heuristic':<11} {'shape':<12} {'size':>8} {'seconds':>9}")
    for size_text in args.sizes:
        size = 46 * 1024 if size_text == "46k" else parse_size(size_text)
        for name in args.only:
            for shape in USES[name]:
                seconds = measure(name, shape, size, args.timeout)
                shown = f">{args.timeout:.0f}" if seconds is None else f"{seconds:.3f}"
                print(f"{name:<11} {shape:<12} {size:>8} {shown:>9}", flush=True)
                figures.append({"heuristic": name, "shape": shape, "bytes": size, "s": seconds})
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
