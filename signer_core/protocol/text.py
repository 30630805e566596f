"""Safe parsing of untrusted text: ASCII-only integers and depth-bounded JSON.

`str.isdigit()` is true for `"²"` and `"¹²³"`, which `int()` then refuses with a ValueError
(a 500 if nobody catches it); `json.loads` raises RecursionError on deeply nested input.
Every parser of outside input goes through these two functions instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_JSON_DEPTH = 32  # NWC payloads, events and deliveries nest 4-5 levels; 32 is generous


class BadJson(ValueError):
    """Not JSON, or JSON nested deeper than allowed."""


def parse_uint(text: object, *, max_digits: int = 18) -> int | None:
    """The value of a plain ASCII decimal (``0``-``9`` only), or None for anything else."""
    if not isinstance(text, str) or not 0 < len(text) <= max_digits:
        return None
    if not text.isascii() or not text.isdigit():
        return None
    return int(text)


def loads(data: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads`, refusing input nested deeper than `max_depth` (BadJson, never a
    RecursionError). The depth is checked on the raw text before parsing, so a hostile
    body costs one linear scan."""
    if isinstance(data, (bytes, bytearray)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise BadJson("not UTF-8") from None
    else:
        text = data
    if _depth(text) > max_depth:
        raise BadJson(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise BadJson("not valid JSON") from None


_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def _depth(text: str) -> int:
    """Deepest bracket nesting outside strings (an upper bound json.loads cannot exceed)."""
    if "[" not in text and "{" not in text:
        return 0
    depth = deepest = 0
    for match in _STRUCTURE.finditer(text):
        piece = match.group()
        if piece in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif piece in "]}":
            depth -= 1
    return deepest
