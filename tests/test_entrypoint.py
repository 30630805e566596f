"""signer_core/entrypoint.py: what the Pyodide entry points answer before the pipeline runs
(the same for Cloudflare's worker.py and Deno's entry.py; both are also driven over HTTP in
tests/test_cloudflare_worker.py and tests/test_deno_entry.py)."""

from __future__ import annotations

import json

import pytest

from signer_core import entrypoint
from signer_core.protocol.webhook import MAX_BODY_BYTES

ROOT, WATCHER, WALLET = "ab" * 32, "cd" * 32, "w" * 16


@pytest.mark.parametrize(
    "method, path, length, status",
    [
        ("GET", "/health", None, 200),
        ("HEAD", "/health", None, 200),
        ("GET", "/", None, 404),
        ("PUT", "/", None, 405),
        ("POST", "/elsewhere", None, 404),
        ("POST", "/", str(MAX_BODY_BYTES + 1), 413),
        ("POST", "/webhook", "١٢", None),  # not an ASCII number: the body's size decides
        ("POST", "/", "12", None),
        ("POST", "/webhook", None, None),
    ],
)
def test_route(method: str, path: str, length: str | None, status: int | None) -> None:
    answer = entrypoint.route(method, path, length)
    assert (answer[0] if answer else None) == status
    if status == 405:
        assert answer is not None and answer[1]["Allow"] == entrypoint.ALLOW


def test_extra_paths_are_deliveries_too() -> None:
    assert entrypoint.route("POST", "/_nwc/seed", None) is not None
    assert entrypoint.route("POST", "/_nwc/seed", None, extra_paths=("/_nwc/seed",)) is None


def test_good_settings() -> None:
    config, secrets = entrypoint.settings(ROOT, WATCHER.upper(), WALLET)
    assert config.watcher_pubkey == WATCHER and config.wallet_id == WALLET
    assert secrets.root_secret == bytes.fromhex(ROOT)


@pytest.mark.parametrize(
    "root, watcher, wallet, named",
    [
        (None, WATCHER, None, "ROOT_SECRET, WALLET_ID not set; do X"),
        ("zz" * 32, WATCHER, WALLET, "ROOT_SECRET must be 64 hex digits"),
        (ROOT[:-2], WATCHER, WALLET, "ROOT_SECRET must be 64 hex digits"),
        (ROOT, "0" * 64, WALLET, "WATCHER_PUBKEY must be the watcher's key"),
        (ROOT, "not a key", WALLET, "WATCHER_PUBKEY must be the watcher's key"),
    ],
)
def test_bad_settings_name_the_setting_never_its_value(
    root: str | None, watcher: str, wallet: str | None, named: str
) -> None:
    with pytest.raises(entrypoint.NotConfigured) as caught:
        entrypoint.settings(root, watcher, wallet, hint="do X")
    assert named in str(caught.value)
    assert "zz" not in str(caught.value) and "not a key" not in str(caught.value)
    status, _, body = entrypoint.error(503, str(caught.value))
    assert status == 503 and json.loads(body)["message"] == str(caught.value)
