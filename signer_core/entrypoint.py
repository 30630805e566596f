"""What the Pyodide entry points (Cloudflare's worker.py, Deno's entry.py) decide before the
pipeline runs: which requests are deliveries at all, and whether the settings are usable.

One copy, so the runtimes answer alike: GET/HEAD `/health` 200, other GETs 404, methods
other than GET/HEAD/POST 405 with `Allow`, POSTs off the webhook paths 404, a declared body
over `MAX_BODY_BYTES` 413 (before reading it); and a missing or malformed setting is a 503
"not configured" that names the setting, never its value.
"""

from __future__ import annotations

from signer_core.attempt import SignerConfig
from signer_core.protocol.text import parse_uint
from signer_core.protocol.webhook import MAX_BODY_BYTES, WebhookResponse, encode_response
from signer_core.session import Secrets

WEBHOOK_PATHS = ("/", "/webhook")
ALLOW = "GET, HEAD, POST"
HEALTH = (200, {"Content-Type": "application/json"}, b'{"ok":true}')
PLACEHOLDER_PUBKEY = "0" * 64  # the Deploy-to-Cloudflare button's default
_HEX = frozenset("0123456789abcdefABCDEF")

Answer = tuple[int, dict[str, str], bytes]


class NotConfigured(Exception):
    """A setting is missing or malformed; the message names it (never its value)."""


def error(status: int, message: str, **extra: str) -> Answer:
    status_, headers, body = encode_response(WebhookResponse(status, message=message))
    return status_, {**headers, **extra}, body


def too_large(size: int) -> Answer | None:
    return error(413, f"body larger than {MAX_BODY_BYTES} bytes") if size > MAX_BODY_BYTES else None


def route(
    method: str, path: str, content_length: str | None, *, extra_paths: tuple[str, ...] = ()
) -> Answer | None:
    """The answer to anything that is not a delivery (or `extra_paths`), else None."""
    if method in ("GET", "HEAD"):
        return HEALTH if path == "/health" else error(404, "not found")
    if method != "POST":
        return error(405, f"method {method} not allowed", Allow=ALLOW)
    if path not in WEBHOOK_PATHS and path not in extra_paths:
        return error(404, "not found")
    length = parse_uint(content_length)
    return too_large(length) if length is not None else None


def _is_hex(text: str, length: int) -> bool:
    return len(text) == length and all(c in _HEX for c in text)


def settings(
    root_secret: str | None, watcher_pubkey: str | None, wallet_id: str | None, *, hint: str = ""
) -> tuple[SignerConfig, Secrets]:
    """The signer's settings from the platform's secrets and variables, or ``NotConfigured``.
    ``hint`` says what to do about a missing one (e.g. the deploy command to run)."""
    values = {
        "ROOT_SECRET": (root_secret or "").strip(),
        "WALLET_ID": (wallet_id or "").strip(),
        "WATCHER_PUBKEY": (watcher_pubkey or "").strip(),
    }
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise NotConfigured(f"not configured: {', '.join(missing)} not set" + (
            f"; {hint}" if hint else ""))  # fmt: skip
    if not _is_hex(values["ROOT_SECRET"], 64):
        raise NotConfigured("not configured: ROOT_SECRET must be 64 hex digits")
    watcher = values["WATCHER_PUBKEY"]
    if not _is_hex(watcher, 64) or watcher == PLACEHOLDER_PUBKEY:
        raise NotConfigured("not configured: WATCHER_PUBKEY must be the watcher's key (64 hex)")
    config = SignerConfig(wallet_id=values["WALLET_ID"], watcher_pubkey=watcher.lower())
    return config, Secrets(root_secret=bytes.fromhex(values["ROOT_SECRET"]))
