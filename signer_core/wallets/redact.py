"""Backend error texts are untrusted: a mint or an SDK may quote proofs, secrets or SQL in
them. Callers and logs get our own description of an error; the backend's words only reach
a debug log, and only through ``scrub``, which blanks every long hex or base64 run (a proof
secret, a key, a token) and bounds the length."""

from __future__ import annotations

import re

# 12+ hex digits, or 20+ characters of a base64/base64url alphabet that include a digit
# or a + or / (so long plain words and snake_case names stay readable)
_HEX_RUN = re.compile(r"[0-9a-fA-F]{12,}")
_B64_RUN = re.compile(r"(?=[A-Za-z0-9+/_-]*[0-9+/])[A-Za-z0-9+/_-]{20,}={0,2}")
DEBUG_TEXT_MAX = 200


def scrub(text: str, limit: int = DEBUG_TEXT_MAX) -> str:
    """``text`` with secret-shaped runs replaced by ``<redacted>``, at most ``limit`` chars."""
    text = _HEX_RUN.sub("<redacted>", text)
    text = _B64_RUN.sub("<redacted>", text)
    text = " ".join(text.split())  # no forged log lines
    return text[:limit] + ("…" if len(text) > limit else "")
