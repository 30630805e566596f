"""Every official NIP-44 vector under each backend, explicitly (native and pure in one run).

``tests/test_nip44.py`` runs the same file under whatever ``NWC_CRYPTO`` selects; this one
switches the backend itself, so a plain test run always covers the pure path too. The vector
file is found and hash-checked exactly as there; a missing file FAILS (no skip).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from signer_core.crypto import backend, nip44
from signer_core.crypto.nip44 import Nip44Error
from signer_core.crypto.secp import xonly_pubkey

REPO = Path(__file__).resolve().parents[1]
VECTORS_SHA256 = "269ed0f69e4c192512cc779e78c555090cebc7c785b609e338a62afc3ce25040"
_CANDIDATES = [
    *([Path(os.environ["NIP44_VECTORS"])] if os.environ.get("NIP44_VECTORS") else []),
    REPO.parent / "shared" / "vectors" / "nip44.vectors.json",
    REPO / "shared" / "vectors" / "nip44.vectors.json",
]


def _load() -> dict[str, Any] | None:
    for path in _CANDIDATES:
        if path.is_file():
            raw = path.read_bytes()
            digest = hashlib.sha256(raw).hexdigest()
            assert digest == VECTORS_SHA256, f"{path} is not the published file"
            data: dict[str, Any] = json.loads(raw)["v2"]
            return data
    return None


V2 = _load()


def _cases(*keys: str) -> list[Any]:
    if V2 is None:
        return [pytest.param(None, id="vectors-missing")]
    node: Any = V2
    for key in keys:
        node = node[key]
    return [pytest.param(case, id=str(i)) for i, case in enumerate(node)]


def _need(case: Any) -> Any:
    if case is None:
        pytest.fail("official NIP-44 vectors not found (set NIP44_VECTORS)", pytrace=False)
    return case


@pytest.fixture(params=["native", "pure"], autouse=True)
def impl(request: pytest.FixtureRequest) -> Iterator[str]:
    backend.use(request.param)
    try:
        assert backend.active() == {"secp": request.param, "ciphers": request.param}
        yield request.param
    finally:
        backend.use(None)


@pytest.mark.parametrize("case", _cases("valid", "get_conversation_key"))
def test_conversation_key(case: Any) -> None:
    c = _need(case)
    key = nip44.get_conversation_key(bytes.fromhex(c["sec1"]), bytes.fromhex(c["pub2"]))
    assert key.hex() == c["conversation_key"]


@pytest.mark.parametrize("case", _cases("valid", "encrypt_decrypt"))
def test_encrypt_decrypt(case: Any) -> None:
    c = _need(case)
    sec1, sec2 = bytes.fromhex(c["sec1"]), bytes.fromhex(c["sec2"])
    key = nip44.get_conversation_key(sec1, xonly_pubkey(sec2))
    assert key.hex() == c["conversation_key"]
    payload = nip44.encrypt(c["plaintext"], key, bytes.fromhex(c["nonce"]))
    assert payload == c["payload"]
    assert nip44.get_conversation_key(sec2, xonly_pubkey(sec1)) == key
    assert nip44.decrypt(payload, key) == c["plaintext"]


@pytest.mark.parametrize("case", _cases("valid", "encrypt_decrypt_long_msg"))
def test_long_messages(case: Any) -> None:
    c = _need(case)
    plaintext = c["pattern"] * c["repeat"]
    key = bytes.fromhex(c["conversation_key"])
    payload = nip44.encrypt(plaintext, key, bytes.fromhex(c["nonce"]))
    assert hashlib.sha256(payload.encode()).hexdigest() == c["payload_sha256"]
    assert nip44.decrypt(payload, key) == plaintext


@pytest.mark.parametrize("case", _cases("invalid", "get_conversation_key"))
def test_invalid_conversation_keys(case: Any) -> None:
    c = _need(case)
    with pytest.raises(Nip44Error):
        nip44.get_conversation_key(bytes.fromhex(c["sec1"]), bytes.fromhex(c["pub2"]))


@pytest.mark.parametrize("case", _cases("invalid", "decrypt"))
def test_invalid_payloads(case: Any) -> None:
    c = _need(case)
    with pytest.raises(Nip44Error):
        nip44.decrypt(c["payload"], bytes.fromhex(c["conversation_key"]))
