"""NIP-44 v2: every official vector, the 2026 extended-prefix vectors, and nostr-sdk interop."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import nostr_sdk as sdk
import pytest

from signer_core.crypto import nip44
from signer_core.crypto.nip44 import Nip44Error
from signer_core.crypto.secp import generate_private_key, xonly_pubkey

REPO = Path(__file__).resolve().parents[1]
VECTORS_SHA256 = "269ed0f69e4c192512cc779e78c555090cebc7c785b609e338a62afc3ce25040"  # 44.md
_CANDIDATES = [
    *([Path(os.environ["NIP44_VECTORS"])] if os.environ.get("NIP44_VECTORS") else []),
    REPO.parent / "shared" / "vectors" / "nip44.vectors.json",  # CI: shared/ beside the repo
    REPO / "shared" / "vectors" / "nip44.vectors.json",
]
_MISSING = (
    "official NIP-44 vectors not found; looked in: "
    + ", ".join(str(p) for p in _CANDIDATES)
    + " (set NIP44_VECTORS to the file)"
)


def _load() -> dict[str, Any] | None:
    for path in _CANDIDATES:
        if path.is_file():
            raw = path.read_bytes()
            digest = hashlib.sha256(raw).hexdigest()
            assert digest == VECTORS_SHA256, f"{path} has sha256 {digest}, not the published one"
            data: dict[str, Any] = json.loads(raw)["v2"]
            return data
    return None


V2 = _load()


def _cases(*keys: str) -> list[Any]:
    """Parametrize over a vector list; when the file is missing, one case that FAILS (no skip)."""
    if V2 is None:
        return [pytest.param(None, id="vectors-missing")]
    node: Any = V2
    for key in keys:
        node = node[key]
    return [pytest.param(case, id=f"{i}") for i, case in enumerate(node)]


def _need(case: Any) -> Any:
    if case is None:
        pytest.fail(_MISSING, pytrace=False)
    return case


def test_vectors_file_present() -> None:
    if V2 is None:
        pytest.fail(_MISSING, pytrace=False)


# --- valid -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("valid", "get_conversation_key"))
def test_get_conversation_key(case: Any) -> None:
    c = _need(case)
    key = nip44.get_conversation_key(bytes.fromhex(c["sec1"]), bytes.fromhex(c["pub2"]))
    assert key.hex() == c["conversation_key"]


@pytest.mark.parametrize("case", _cases("valid", "get_message_keys", "keys"))
def test_get_message_keys(case: Any) -> None:
    c = _need(case)
    assert V2 is not None
    conversation_key = bytes.fromhex(V2["valid"]["get_message_keys"]["conversation_key"])
    chacha_key, chacha_nonce, hmac_key = nip44.get_message_keys(
        conversation_key, bytes.fromhex(c["nonce"])
    )
    assert chacha_key.hex() == c["chacha_key"]
    assert chacha_nonce.hex() == c["chacha_nonce"]
    assert hmac_key.hex() == c["hmac_key"]


@pytest.mark.parametrize("case", _cases("valid", "calc_padded_len"))
def test_calc_padded_len(case: Any) -> None:
    unpadded, padded = _need(case)
    assert nip44.calc_padded_len(unpadded) == padded


@pytest.mark.parametrize("case", _cases("valid", "encrypt_decrypt"))
def test_encrypt_decrypt(case: Any) -> None:
    c = _need(case)
    sec1, sec2 = bytes.fromhex(c["sec1"]), bytes.fromhex(c["sec2"])
    key = nip44.get_conversation_key(sec1, xonly_pubkey(sec2))
    assert key.hex() == c["conversation_key"]
    payload = nip44.encrypt(c["plaintext"], key, bytes.fromhex(c["nonce"]))
    assert payload == c["payload"]
    key_back = nip44.get_conversation_key(sec2, xonly_pubkey(sec1))
    assert key_back == key
    assert nip44.decrypt(payload, key_back) == c["plaintext"]


@pytest.mark.parametrize("case", _cases("valid", "encrypt_decrypt_long_msg"))
def test_encrypt_decrypt_long_msg(case: Any) -> None:
    c = _need(case)
    plaintext = c["pattern"] * c["repeat"]
    assert hashlib.sha256(plaintext.encode()).hexdigest() == c["plaintext_sha256"]
    key = bytes.fromhex(c["conversation_key"])
    payload = nip44.encrypt(plaintext, key, bytes.fromhex(c["nonce"]))
    assert hashlib.sha256(payload.encode()).hexdigest() == c["payload_sha256"]
    assert nip44.decrypt(payload, key) == plaintext


# --- invalid -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("invalid", "encrypt_msg_lengths"))
def test_encrypt_msg_lengths(case: Any) -> None:
    """The file predates the 2026 extended prefix: 0 stays invalid, >= 65536 is now legal.

    For the now-legal lengths we check the extended 6-byte prefix is used and the message
    round-trips; the 10 MB one also proves decrypt's default size limit refuses it.
    """
    length = _need(case)
    key = os.urandom(32)
    if length < nip44.MIN_PLAINTEXT_LEN:
        with pytest.raises(Nip44Error):
            nip44.encrypt("x" * length, key)
        with pytest.raises(Nip44Error):
            nip44.pad("x" * length)
        return
    assert length >= nip44.EXTENDED_PREFIX_THRESHOLD  # the only other entries in the file
    plaintext = "y" * length
    payload = nip44.encrypt(plaintext, key)
    raw = base64.b64decode(payload)
    assert len(raw) == 1 + 32 + 6 + nip44.calc_padded_len(length) + 32
    if length > nip44.DEFAULT_MAX_PLAINTEXT_LEN:
        with pytest.raises(Nip44Error, match="too long"):
            nip44.decrypt(payload, key)
        assert nip44.decrypt(payload, key, max_plaintext_len=length) == plaintext
    else:
        assert nip44.decrypt(payload, key) == plaintext


@pytest.mark.parametrize("case", _cases("invalid", "get_conversation_key"))
def test_get_conversation_key_invalid(case: Any) -> None:
    c = _need(case)
    with pytest.raises(Nip44Error):
        nip44.get_conversation_key(bytes.fromhex(c["sec1"]), bytes.fromhex(c["pub2"]))


@pytest.mark.parametrize("case", _cases("invalid", "get_conversation_key"))
def test_invalid_private_keys_rejected_with_a_valid_pubkey(case: Any) -> None:
    """The vectors pair bad secrets with bad pubkeys; make sure the secret alone is caught."""
    c = _need(case)
    good_pub = xonly_pubkey(generate_private_key())
    sec1 = bytes.fromhex(c["sec1"])
    if "sec1" in c["note"]:
        with pytest.raises(Nip44Error, match="private key"):
            nip44.get_conversation_key(sec1, good_pub)


@pytest.mark.parametrize("case", _cases("invalid", "decrypt"))
def test_decrypt_invalid(case: Any) -> None:
    c = _need(case)
    with pytest.raises(Nip44Error):
        nip44.decrypt(c["payload"], bytes.fromhex(c["conversation_key"]))


# --- 2026 extended length prefix (vectors published inline in nips 44.md) ------------------

_EXT_KEY = "c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d"
_EXT_NONCE = "0000000000000000000000000000000000000000000000000000000000000001"


@pytest.mark.parametrize(
    ("length", "prefix_len", "padded_len", "plaintext_sha256", "payload_sha256"),
    [
        (
            65535,
            2,
            65536,
            "6e1bebca6a8229364a162a72ef064826c4cd7457bf54f190ef782bd9deff3e42",
            "6d8c2810d1e870fbaa1f0a0937126cca837a15f9260e27060c331d70a3c0bc84",
        ),
        (
            65536,
            6,
            65536,
            "bf718b6f653bebc184e1479f1935b8da974d701b893afcf49e701f3e2f9f9c5a",
            "b7b4edb36ba92e267d322d56d9aebc22e7fa96ff52e3c12adc07f07a43cbc616",
        ),
        (
            65537,
            6,
            81920,
            "008ffc88d3c96a9f307524eb361e47c5222a887fc45fa0c1fb8d429c5c23b430",
            "eeb7c7c5373894ea2c1547cfd3ccb15d5a0b2d619da852e5c79df792dcc9e435",
        ),
    ],
)
def test_extended_prefix_vectors(
    length: int, prefix_len: int, padded_len: int, plaintext_sha256: str, payload_sha256: str
) -> None:
    plaintext = "a" * length
    assert hashlib.sha256(plaintext.encode()).hexdigest() == plaintext_sha256
    assert nip44.calc_padded_len(length) == padded_len
    padded = nip44.pad(plaintext)
    assert len(padded) == prefix_len + padded_len
    if prefix_len == 6:
        assert padded[:6] == b"\x00\x00" + length.to_bytes(4, "big")
    key = bytes.fromhex(_EXT_KEY)
    payload = nip44.encrypt(plaintext, key, bytes.fromhex(_EXT_NONCE))
    assert hashlib.sha256(payload.encode()).hexdigest() == payload_sha256
    assert nip44.decrypt(payload, key) == plaintext


def test_unpad_rejects_non_canonical_extended_prefix() -> None:
    # A short message dressed up with the 6-byte prefix must not be accepted.
    padded = b"\x00\x00" + (5).to_bytes(4, "big") + b"hello" + bytes(27)
    with pytest.raises(Nip44Error, match="non-canonical"):
        nip44.unpad(padded)


def test_unpad_rejects_length_mismatch() -> None:
    good = nip44.pad("hello")
    assert nip44.unpad(good) == "hello"
    with pytest.raises(Nip44Error):
        nip44.unpad(good + bytes(32))
    with pytest.raises(Nip44Error):
        nip44.unpad((40).to_bytes(2, "big") + good[2:])


# --- our own edge cases ------------------------------------------------------------------


def _tamper(payload: str, index: int) -> str:
    raw = bytearray(base64.b64decode(payload))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("index", [0, 1, 40, -33, -1])
def test_any_bit_flip_is_rejected(index: int) -> None:
    key = os.urandom(32)
    payload = nip44.encrypt("pay the invoice", key)
    with pytest.raises(Nip44Error):
        nip44.decrypt(_tamper(payload, index), key)


def test_wrong_key_is_invalid_mac() -> None:
    payload = nip44.encrypt("secret", os.urandom(32))
    with pytest.raises(Nip44Error, match="MAC"):
        nip44.decrypt(payload, os.urandom(32))


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "#abc",
        "A" * 131,
        "Ag" + "=" * 200,
        "Ag\u00e9" + "A" * 200,
        "Ag==" + "A" * 200,
        "Ag" + "A" * 200 + "\n",
        "A" * 10_000_000,
    ],
)
def test_malformed_payloads(payload: str) -> None:
    with pytest.raises(Nip44Error):
        nip44.decrypt(payload, os.urandom(32))


def test_non_string_payload() -> None:
    with pytest.raises(Nip44Error):
        nip44.decrypt(b"abc", os.urandom(32))  # type: ignore[arg-type]


def test_key_and_nonce_lengths() -> None:
    with pytest.raises(Nip44Error):
        nip44.get_message_keys(bytes(31), bytes(32))
    with pytest.raises(Nip44Error):
        nip44.encrypt("x", os.urandom(32), nonce=bytes(16))
    with pytest.raises(Nip44Error):
        nip44.get_conversation_key(bytes(31), xonly_pubkey(generate_private_key()))


def test_lone_surrogate_plaintext() -> None:
    with pytest.raises(Nip44Error):
        nip44.encrypt("\ud800", os.urandom(32))


def test_random_nonce_differs() -> None:
    key = os.urandom(32)
    assert nip44.encrypt("same", key) != nip44.encrypt("same", key)


# --- interop with nostr-sdk (tests only; never imported by signer_core) ---------------------

SDK_SIZES = [1, 31, 32, 33, 300, 4096, 65408]  # nostr-sdk 0.45.1 caps plaintext at 65 408


@pytest.mark.parametrize("size", SDK_SIZES)
def test_interop_ours_to_nostr_sdk(size: int) -> None:
    alice, bob = generate_private_key(), generate_private_key()
    plaintext = "é" * (size // 2) + "x" * (size % 2)  # exactly `size` UTF-8 bytes
    assert len(plaintext.encode()) == size
    key = nip44.get_conversation_key(alice, xonly_pubkey(bob))
    payload = nip44.encrypt(plaintext, key)
    got = sdk.nip44_decrypt(
        sdk.SecretKey.parse(bob.hex()), sdk.PublicKey.parse(xonly_pubkey(alice).hex()), payload
    )
    assert got == plaintext


@pytest.mark.parametrize("size", SDK_SIZES)
def test_interop_nostr_sdk_to_ours(size: int) -> None:
    alice, bob = generate_private_key(), generate_private_key()
    plaintext = "z" * size
    payload = sdk.nip44_encrypt(
        sdk.SecretKey.parse(alice.hex()),
        sdk.PublicKey.parse(xonly_pubkey(bob).hex()),
        plaintext,
        sdk.Nip44Version.V2,
    )
    key = nip44.get_conversation_key(bob, xonly_pubkey(alice))
    assert nip44.decrypt(payload, key) == plaintext
