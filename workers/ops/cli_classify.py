"""`complaintdesk classify`: classify one mail or text from stdin, or retrain the model.

A public contract: `classify --json` prints {"category", "severity", "confidence", "reasons",
"needs_review"} (keys may be added, never removed). `classify --retrain` rebuilds
var/classifier.pkl (the category model and the severity model) from staff-confirmed cases: from
the database through `workers.triage.training_data`, or from `--from-jsonl` lines with "text" and
"category" and/or "severity". Wire it with `register(app)`; the work is `workers.triage.classify` and
`workers.triage.model`.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import charset_normalizer
import typer

from config.policy import Policy, load_policy
from config.policy_classify import SEVERITIES
from config.settings import get_settings
from workers.ops.terminal import printable, printable_json

if TYPE_CHECKING:  # jieba and scikit-learn load only when the command runs
    from workers.triage.classify import Classification
    from workers.triage.model import CategoryModel

# RFC 5322 s2.2: a header field name is printable ASCII without the colon.
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:")
_MAIL_HEADERS = {
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"received",
    b"mime-version",
    b"return-path",
    b"content-type",
}


JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (a stable contract).")]
RetrainFlag = Annotated[
    bool, typer.Option("--retrain", help="Rebuild the model from staff-confirmed cases.")
]
JsonlOption = Annotated[
    Path | None,
    typer.Option(
        "--from-jsonl",
        exists=True,
        dir_okay=False,
        help="With --retrain: read confirmed cases from this file, not the database.",
    ),
]
ModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model",
        help="The model file; default: the settings' model_path (COMPLAINTDESK_MODEL_PATH).",
    ),
]
PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        exists=True,
        dir_okay=False,
        help="Policy file; default: the settings' policy_file (COMPLAINTDESK_POLICY_FILE).",
    ),
]


def register(app: typer.Typer) -> None:
    """Add the `classify` command to the complaintdesk CLI."""
    app.command("classify")(classify_command)


def classify_command(
    as_json: JsonFlag = False,
    do_retrain: RetrainFlag = False,
    from_jsonl: JsonlOption = None,
    model_path: ModelOption = None,
    policy_file: PolicyOption = None,
) -> None:
    """Classify one mail (.eml) or plain text read from stdin; or retrain the model."""
    from workers.triage.classify import classify

    settings = get_settings()
    policy = load_policy(policy_file or settings.policy_file)
    if do_retrain:
        _retrain(policy, model_path or settings.model_path, from_jsonl, as_json)
        return
    raw = typer.get_binary_stream("stdin").read()
    if not raw.strip():
        typer.echo("nothing on stdin: pipe in a mail (.eml) or a text", err=True)
        raise typer.Exit(2)
    result = classify(complaint_text(raw), policy, _load_model(model_path or settings.model_path))
    _print_result(result, policy, as_json)


def complaint_text(raw: bytes) -> str:
    """Subject and body of a mail, or the text itself."""
    if not looks_like_mail(raw):
        return decode_text(raw)
    from workers.mail.parse import MailParseError, parse_mail

    try:
        parsed = parse_mail(raw)
    except MailParseError:  # ingest would quarantine it; the standard library is lenient
        return _stdlib_mail_text(raw)
    return f"{parsed.subject}\n{parsed.body_text}"


def _stdlib_mail_text(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    body = message.get_body(preferencelist=("plain", "html"))
    return f"{message['subject'] or ''}\n{body.get_content() if body else ''}"


def looks_like_mail(raw: bytes) -> bool:
    """Whether the bytes start with a header block that names at least one mail header."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    lines = head.splitlines()
    if not lines or not _HEADER_LINE.match(lines[0]):
        return False
    fields = {line.split(b":", 1)[0].lower() for line in lines if _HEADER_LINE.match(line)}
    folded_or_field = all(_HEADER_LINE.match(line) or line[:1] in b" \t" for line in lines)
    return folded_or_field and bool(fields & _MAIL_HEADERS)


def decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:  # GBK or Big5 from a Chinese terminal or file
        best = charset_normalizer.from_bytes(raw).best()
        return str(best) if best else raw.decode("utf-8", errors="replace")


def _load_model(path: Path) -> CategoryModel | None:
    from workers.triage.model import CategoryModel, ModelFileError

    if not path.exists():
        return None
    try:
        return CategoryModel.load(path)
    except ModelFileError as exc:
        typer.echo(f"warning: {exc}; classifying by rules only (run --retrain)", err=True)
        return None


def _print_result(result: Classification, policy: Policy, as_json: bool) -> None:
    if as_json:
        data = {
            "category": result.category,
            "severity": result.severity,
            "confidence": result.confidence,
            "reasons": result.reasons,
            "needs_review": result.needs_review,
        }
        typer.echo(printable_json(data, indent=None))
        return
    name = next((c.name_zh for c in policy.categories if c.code == result.category), "")
    typer.echo(f"category  {result.category} {name} ({result.confidence:.2f})")
    typer.echo(f"severity  {result.severity}")
    if result.needs_review:
        typer.echo("review    a person should check the category")
    for reason in result.reasons:
        typer.echo(printable(f"  - {reason}"))


def _retrain(policy: Policy, model_path: Path, from_jsonl: Path | None, as_json: bool) -> None:
    from workers.triage.model import retrain

    examples, severity_examples = _confirmed_examples(from_jsonl)
    known = _known(examples, {c.code for c in policy.categories}, "categories")
    known_levels = _known(severity_examples, set(SEVERITIES), "severities")
    try:
        model = retrain(known, model_path, known_levels)
    except ValueError as exc:
        typer.echo(f"cannot train: {exc}", err=True)
        raise typer.Exit(1) from exc
    counts = dict(Counter(code for _, code in known).most_common())
    levels = dict(Counter(level for _, level in known_levels).most_common())
    severity_count = model.severity.examples_count if model.severity is not None else 0
    if as_json:
        summary = {
            "examples": model.examples_count,
            "categories": counts,
            "severity_examples": severity_count,
            "severities": levels,
            "model": str(model_path),
        }
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        typer.echo(
            f"trained on {model.examples_count} confirmed cases ({severity_count} with a "
            f"staff-set severity), saved to {model_path}"
        )
    minimum = policy.classifier.min_examples
    if model.examples_count < minimum:
        typer.echo(
            f"note: the model joins the rules from {minimum} "
            "cases on; until then the rules decide alone",
            err=True,
        )
    if severity_count < minimum:
        typer.echo(
            f"note: the severity model joins the rules from {minimum} cases with a "
            "staff-set severity (of two severities at least) on",
            err=True,
        )


def _known(examples: list[tuple[str, str]], labels: set[str], what: str) -> list[tuple[str, str]]:
    known = [(text, label) for text, label in examples if label in labels]
    if len(known) < len(examples):
        typer.echo(f"skipped {len(examples) - len(known)} cases of unknown {what}", err=True)
    return known


def _confirmed_examples(
    from_jsonl: Path | None,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(text, category) and (text, severity) pairs staff set."""
    if from_jsonl is not None:
        return _read_jsonl(from_jsonl, "category"), _read_jsonl(from_jsonl, "severity")
    from workers.triage.training_data import (
        load_confirmed_examples,
        load_confirmed_severity_examples,
    )

    return load_confirmed_examples(), load_confirmed_severity_examples()


def _read_jsonl(path: Path, field: str) -> list[tuple[str, str]]:
    """(text, row[field]) of the lines that have the field."""
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                if row.get(field) is not None:
                    pairs.append((row["text"], row[field]))
    return pairs
