"""Classification benchmark: accuracy on the held-back complaints, time per mail, model memory.

Run on demand (not a test):

    uv run python bench/classify.py
    uv run python bench/classify.py --repeat 10 --json figures.json

What it does: trains the category and severity models on the `train` rows of
tests/data/complaints.jsonl (as `complaintdesk classify --retrain` would from staff-confirmed
cases), then classifies the `test` rows with the rules alone and with rules + models. Figures per mode (scikit-learn metrics):
category accuracy and macro-F1, severity accuracy, recall of major, majors that are not
(leadership paged for nothing), severities the severity model raised, needs-review rate and category accuracy per script
(zh-Hans, zh-Hant, en). Time per mail: `classify()` on every labelled row, `--repeat` times
after a warm-up pass, p50/p95. Model memory: tracemalloc peak of training + save + load, what
the loaded model keeps (tracemalloc), the RSS delta of the process (psutil) and the file size.
Memory is measured in its own pass: tracemalloc slows every allocation, so never time under it.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
from sklearn.metrics import accuracy_score, f1_score, recall_score

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/classify.py` as well as `python -m bench.classify`
    sys.path.insert(0, str(ROOT))

from config.policy import Policy, load_policy  # noqa: E402
from workers.mail.textnorm import script, tokens  # noqa: E402
from workers.triage.classify import classify  # noqa: E402
from workers.triage.model import CategoryModel, train  # noqa: E402

DATA = ROOT / "tests" / "data" / "complaints.jsonl"
POLICY = ROOT / "config" / "policy.toml"
MB = 2**20


def load_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def examples(rows: list[dict[str, Any]], field: str = "category") -> list[tuple[str, str]]:
    return [(r["text"], r[field]) for r in rows]


def train_both(rows: list[dict[str, Any]]) -> CategoryModel:
    return train(examples(rows), examples(rows, "severity"))


def accuracy(
    rows: list[dict[str, Any]], policy: Policy, model: CategoryModel | None
) -> dict[str, Any]:
    results = [classify(r["text"], policy, model) for r in rows]
    cat_true, cat_pred = [r["category"] for r in rows], [c.category for c in results]
    sev_true, sev_pred = [r["severity"] for r in rows], [c.severity for c in results]
    major_true = [s == "major" for s in sev_true]
    major_pred = [s == "major" for s in sev_pred]
    codes = [c.code for c in policy.categories]  # every category counts, found or not
    macro_f1 = f1_score(cat_true, cat_pred, labels=codes, average="macro", zero_division=0)
    per_script: dict[str, Any] = {}
    for name in ("zh-Hans", "zh-Hant", "en"):
        idx = [i for i, r in enumerate(rows) if script(r["text"]) == name]
        if idx:
            hits = sum(cat_true[i] == cat_pred[i] for i in idx)
            per_script[name] = {"category_accuracy": round(hits / len(idx), 3), "n": len(idx)}
    return {
        "n": len(rows),
        "category_accuracy": round(float(accuracy_score(cat_true, cat_pred)), 3),
        "category_macro_f1": round(float(macro_f1), 3),
        "severity_accuracy": round(float(accuracy_score(sev_true, sev_pred)), 3),
        "major_recall": round(float(recall_score(major_true, major_pred, zero_division=0)), 3),
        "majors": sum(major_true),
        "false_majors": sum(p and not t for t, p in zip(major_true, major_pred, strict=True)),
        "severity_raised_by_model": sum(
            any(h.rule == "severity_model" for h in c.hits) for c in results
        ),
        "needs_review": sum(c.needs_review for c in results),
        "per_script": per_script,
    }


def percentiles(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples, n=100)
    return {
        "p50_ms": round(q[49] * 1000, 3),
        "p95_ms": round(q[94] * 1000, 3),
        "max_ms": round(max(samples) * 1000, 3),
        "n": len(samples),
    }


def timing(
    texts: list[str], policy: Policy, model: CategoryModel | None, repeat: int
) -> dict[str, float]:
    for text in texts:  # warm-up: jieba's dictionary, the keyword regexes, sklearn's first call
        classify(text, policy, model)
    samples = []
    for _ in range(repeat):
        for text in texts:
            started = time.perf_counter()
            classify(text, policy, model)
            samples.append(time.perf_counter() - started)
    return percentiles(samples)


def model_memory(train_rows: list[dict[str, Any]]) -> dict[str, float]:
    """Training, saving and loading under tracemalloc, after jieba and OpenCC are loaded (every
    worker has them anyway), so that the figures are the model's own."""
    tokens("预热 warm-up 預熱")
    process = psutil.Process()
    gc.collect()
    rss_before = process.memory_info().rss
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "classifier.pkl"
        tracemalloc.start()
        train_both(train_rows).save(path)
        gc.collect()
        before_load, _ = tracemalloc.get_traced_memory()
        loaded = CategoryModel.load(path)
        kept, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        file_size = path.stat().st_size
    rss_after = process.memory_info().rss
    del loaded
    return {
        "train_save_load_peak_mb": round(peak / MB, 2),
        "loaded_model_mb": round((kept - before_load) / MB, 2),
        "rss_delta_mb": round((rss_after - rss_before) / MB, 1),
        "file_mb": round(file_size / MB, 2),
    }


def report(figures: dict[str, Any]) -> None:
    data = figures["data"]
    print(
        f"data: {data['train']} train, {data['test']} held back; held back by script "
        f"{data['test_by_script']}"
    )
    print(
        f"{'held back':<12} {'cat acc':>7} {'macroF1':>7} {'sev acc':>7} {'major rec':>9} "
        f"{'false maj':>9} {'sev raised':>10} {'review':>6}  category accuracy by script"
    )
    for mode in ("rules", "rules+model"):
        a = figures["accuracy"][mode]
        scripts = ", ".join(
            f"{k} {v['category_accuracy']:.3f} (n={v['n']})" for k, v in a["per_script"].items()
        )
        print(
            f"{mode:<12} {a['category_accuracy']:>7.3f} {a['category_macro_f1']:>7.3f} "
            f"{a['severity_accuracy']:>7.3f} {a['major_recall']:>5.3f} ({a['majors']:>2}) "
            f"{a['false_majors']:>9} {a['severity_raised_by_model']:>10} {a['needs_review']:>6}  "
            f"{scripts}"
        )
    for mode in ("rules", "rules+model"):
        t = figures["time_per_mail"][mode]
        print(
            f"time per mail, {mode:<11}: p50 {t['p50_ms']:.2f} ms, p95 {t['p95_ms']:.2f} ms, "
            f"max {t['max_ms']:.2f} ms over {t['n']} calls"
        )
    m = figures["model_memory"]
    print(
        f"model memory: train+save+load tracemalloc peak {m['train_save_load_peak_mb']} MB, "
        f"loaded model {m['loaded_model_mb']} MB, RSS delta {m['rss_delta_mb']} MB, "
        f"file {m['file_mb']} MB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="labelled complaints (jsonl)")
    parser.add_argument("--policy", type=Path, default=POLICY)
    parser.add_argument("--repeat", type=int, default=5, help="timed passes over every row")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    policy = load_policy(args.policy)
    rows = load_rows(args.data)
    train_rows = [r for r in rows if r["split"] == "train"]
    test_rows = [r for r in rows if r["split"] == "test"]
    memory = model_memory(train_rows)  # first: the process has not yet grown for other reasons
    model = train_both(train_rows)
    texts = [r["text"] for r in rows]
    figures = {
        "data": {"train": len(train_rows), "test": len(test_rows),
                 "test_by_script": dict(Counter(script(r["text"]) for r in test_rows))},
        "accuracy": {"rules": accuracy(test_rows, policy, None),
                     "rules+model": accuracy(test_rows, policy, model)},
        "time_per_mail": {"rules": timing(texts, policy, None, args.repeat),
                          "rules+model": timing(texts, policy, model, args.repeat)},
        "model_memory": memory,
    }  # fmt: skip
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
