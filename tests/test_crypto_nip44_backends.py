"""Every official NIP-44 vector under each backend, explicitly (native and pure in one run).

``tests/test_nip44.py`` runs the same file under whatever ``NWC_CRYPTO`` selects; this one
switches the backend itself, so a plain test run always covers the pure path too. The vector
file is found and hash-checked by that module's loader; a missing file FAILS (no skip).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from signer_core.crypto import backend, nip44
from signer_core.crypto.nip44 import Nip44Error
from signer_core.crypto.secp import xonly_pubkey
from tests.test_nip44 import _cases, _need  # the one loader of the official vector file


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
