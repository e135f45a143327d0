"""Text from mail shown on the operator's terminal: control characters made visible.

A mail's subject or body may carry escape sequences (ESC ] 0 ; title BEL sets the window title,
OSC 52 writes the clipboard, CSI moves the cursor and rewrites what was printed) and C1 controls
(U+009B is CSI on some terminals). Printed raw, `complaintdesk case show` would run them in the
operator's terminal. Every C0 and C1 control, DEL, and the bidirectional overrides (which
reorder what the eye reads) are shown as escapes instead; newline and tab only where they are
layout. One regex pass: linear in the text.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

_CONTROLS = (
    "\x00-\x1f\x7f-\x9f"  # C0, DEL, C1 (ECMA-48)
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidirectional marks, embeddings, isolates
    "\u2028\u2029"  # line and paragraph separators
)
# Outside JSON strings' own escapes: what json.dumps(ensure_ascii=False) leaves raw.
_JSON_RAW = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


@lru_cache(maxsize=4)
def _pattern(keep: str) -> re.Pattern[str]:
    kept = "".join(re.escape(c) for c in keep)
    return re.compile(f"(?![{kept}])[{_CONTROLS}]" if kept else f"[{_CONTROLS}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, keep: str = "") -> str:
    """`text` with every control character but those in `keep` written as \\xNN or \\uNNNN."""
    return _pattern(keep).sub(_escape, text)


def printable_json(data: Any, indent: int | None = 2) -> str:
    """JSON for the terminal: json.dumps escapes C0 controls itself; C1, DEL and the bidi
    controls it leaves raw become \\u escapes too (the same JSON value)."""
    dumped = json.dumps(data, ensure_ascii=False, indent=indent)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)
