"""Plain-text tables and case sheets for people (the CLI without --json)."""

from __future__ import annotations

import unicodedata
from typing import Any

from workers.ops.terminal import printable


def width(text: str) -> int:
    """Columns a string takes in a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def fit(text: str, cols: int) -> str:
    out, used = [], 0
    for c in text:
        w = width(c)
        if used + w > cols:
            break
        out.append(c)
        used += w
    return "".join(out) + " " * (cols - used)


def format_table(rows: list[dict[str, Any]], columns: list[str], max_col: int = 48) -> str:
    cells = [
        [printable(("" if r.get(c) is None else str(r.get(c))).replace("\n", " ")) for c in columns]
        for r in rows
    ]
    widths = [
        min(max_col, max([width(c)] + [width(row[i]) for row in cells]))
        for i, c in enumerate(columns)
    ]
    lines = ["  ".join(fit(c, w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(fit(v, w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    if not rows:
        lines.append("(none)")
    return "\n".join(lines)


def format_case(detail: dict[str, Any]) -> str:
    lines = [
        f"{detail['number']}  [{detail['status']}]  {detail['subject']}",
        f"complainant: {detail['complainant_name']} <{detail['complainant']}>  "
        f"language: {detail['language']}  category: {detail['category']}  "
        f"severity: {detail['severity']}  assignee: {detail['assignee']}",
        "",
    ]
    for m in detail["messages"]:
        arrow = "<-" if m["direction"] == "in" else "->"
        who = m["from"] if m["direction"] == "in" else "to " + ", ".join(m["to"])
        lines.append(f"{arrow} {m['created_at']}  {m['role']}  {who}  {m['subject']}")
        lines += [f"   | {line}" for line in m["text"].strip().splitlines()[:12]]
        lines += [f"   📎 {a['filename']} ({a['size']} bytes)" for a in m["attachments"]]
    lines.append("")
    for e in detail["events"]:
        lines.append(
            f"{e['at']}  {e['kind']:<22} {e['actor']:<24} "
            f"{(e['from'] or '')}{' -> ' if e['to'] else ''}{e['to'] or ''}"
        )
        lines += [f"      {line}" for line in event_notes(e["kind"], e.get("detail") or {})]
    # Each line is one line of ours: a newline inside a field is shown, not obeyed.
    return "\n".join(printable(line, keep="\t") for line in lines)


def event_notes(kind: str, detail: dict[str, Any]) -> list[str]:
    """The lines people need under an event: a staff mail's transcript, a refusal, a note."""
    if kind == "staff_commands":
        return [
            f"{c['line']}  → "
            + (
                f"ok{': ' + c['note'] if c.get('note') else ''}"
                if c["ok"]
                else f"refused: {c['reason']}"
            )
            for c in detail.get("commands", [])
        ]
    if kind == "staff_auth_refused":
        return [
            f"not run: {detail.get('reason', '')}",
            *(f"{line}  → not run" for line in detail.get("commands", [])),
        ]
    if kind == "note":
        return str(detail.get("text", "")).splitlines()
    return []
