"""App-initiated connection requests (nostr+walletauth://, NWC-07 nostrnwc://): the Python
parser and the home page's JavaScript parser against the one vectors file, so the CLI and
the page accept and refuse exactly the same requests."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nwc_signer.request_words import describe
from signer_core.protocol import walletauth as wa

ROOT = Path(__file__).resolve().parent.parent
VECTORS = json.loads((ROOT / "tests/fixtures/walletauth_vectors.json").read_text())
NOW = VECTORS["now"]


def names(key: str) -> list[str]:
    return [v["name"] for v in VECTORS[key]]


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=names("valid"))
def test_python_accepts(vector: dict[str, Any]) -> None:
    assert wa.parse_request(vector["uri"], now=NOW).as_dict() == vector["expected"]


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=names("invalid"))
def test_python_refuses(vector: dict[str, Any]) -> None:
    with pytest.raises(wa.WalletAuthError) as caught:
        wa.parse_request(vector["uri"], now=NOW)
    assert caught.value.kind == vector["error"]
    assert str(caught.value) and "Traceback" not in str(caught.value)


@pytest.mark.parametrize("vector", VECTORS["return_urls"], ids=names("return_urls"))
def test_python_return_url(vector: dict[str, Any]) -> None:
    req = wa.parse_request(vector["uri"], now=NOW)
    got = wa.return_url(req, relays=vector["relays"], wallet_pubkey=vector["wallet_pubkey"],
                        uri=vector["connection_uri"], lud16=vector["lud16"])  # fmt: skip
    assert got == vector["expected"]


@pytest.mark.parametrize("vector", VECTORS["shared_relays"], ids=names("shared_relays"))
def test_python_shared_relays(vector: dict[str, Any]) -> None:
    assert wa.shared_relays(vector["app"], vector["wallet"]) == vector["expected"]


def test_every_error_kind_has_a_vector() -> None:
    assert {v["error"] for v in VECTORS["invalid"]} == set(wa.ERROR_KINDS)


def test_unknown_methods_are_listed() -> None:
    vector = next(v for v in VECTORS["invalid"] if v["error"] == "unknown_method")
    with pytest.raises(wa.WalletAuthError, match="steal_funds, make_coffee"):
        wa.parse_request(vector["uri"], now=NOW)


def test_sdk_request_becomes_alby_create_connection_params() -> None:
    """What @getalby/sdk's NWAClient sent becomes create_connection's params unchanged."""
    req = wa.parse_request(VECTORS["valid"][0]["uri"], now=NOW)
    assert req.create_params(req.app_pubkey or "") == {
        "pubkey": "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9",
        "name": "Demo Shop & Co",
        "request_methods": ["get_info", "get_balance", "pay_invoice", "make_invoice"],
        "notification_types": ["payment_received", "payment_sent"],
        "max_amount": 21_000_000,
        "budget_renewal": "weekly",
        "expires_at": 1_900_000_000,
        "metadata": {"app_store_app_id": "demo", "note": "héllo"},
    }


def test_describe_says_budget_and_methods_in_words() -> None:
    req = wa.parse_request(VECTORS["valid"][0]["uri"], now=NOW)
    text = "\n".join(describe(req))
    assert "send payments" in text and "at most 21,000 sats per week" in text
    bare = wa.parse_request(f"nostr+walletauth://{req.app_pubkey}?relay=wss%3A%2F%2Fr.example"
                            "&request_methods=pay_invoice", now=NOW)  # fmt: skip
    assert "could spend the whole balance" in "\n".join(describe(bare))


@pytest.fixture(scope="module")
def js() -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the home page's parser is not checked")
    out = subprocess.run([node, str(ROOT / "tests/walletauth_vectors.mjs")], capture_output=True,
                         text=True, timeout=60, check=True)  # fmt: skip
    return dict(json.loads(out.stdout))


def test_js_accepts_the_same(js: dict[str, Any]) -> None:
    for vector, got in zip(VECTORS["valid"], js["valid"], strict=True):
        assert got.get("parsed") == vector["expected"], vector["name"]


def test_js_refuses_the_same(js: dict[str, Any]) -> None:
    for vector, got in zip(VECTORS["invalid"], js["invalid"], strict=True):
        assert got.get("error") == vector["error"], (vector["name"], got)


def test_js_return_urls_are_the_same(js: dict[str, Any]) -> None:
    assert js["returns"] == [v["expected"] for v in VECTORS["return_urls"]]


def test_js_shared_relays_are_the_same(js: dict[str, Any]) -> None:
    assert js["shared"] == [v["expected"] for v in VECTORS["shared_relays"]]


def test_js_constants_are_the_same(js: dict[str, Any]) -> None:
    for name, value in js["constants"].items():
        mine = getattr(wa, name)
        if isinstance(mine, frozenset):
            assert sorted(mine) == sorted(value), name
        else:
            assert (list(mine) if isinstance(mine, tuple) else mine) == value, name
