"""NIP-04: round trips, malformed input, and interop both ways with nostr-sdk."""

from __future__ import annotations

import base64

import nostr_sdk as sdk
import pytest

from signer_core.crypto import nip04
from signer_core.crypto.nip04 import Nip04Error
from signer_core.crypto.secp import ecdh_x, generate_private_key, xonly_pubkey

ALICE = generate_private_key()
BOB = generate_private_key()
ALICE_PUB = xonly_pubkey(ALICE)
BOB_PUB = xonly_pubkey(BOB)

MESSAGES = ["", "a", "x" * 15, "y" * 16, "z" * 17, "héllo wörld 🦄", '{"method":"get_balance"}']


@pytest.mark.parametrize("plaintext", MESSAGES)
def test_round_trip(plaintext: str) -> None:
    payload = nip04.encrypt(plaintext, ALICE, BOB_PUB)
    ciphertext, iv = payload.split("?iv=")
    assert len(base64.b64decode(iv)) == 16
    assert len(base64.b64decode(ciphertext)) % 16 == 0
    assert nip04.decrypt(payload, BOB, ALICE_PUB) == plaintext


def test_key_is_unhashed_ecdh_x() -> None:
    assert nip04.shared_key(ALICE, BOB_PUB) == ecdh_x(ALICE, BOB_PUB)
    assert nip04.shared_key(ALICE, BOB_PUB) == nip04.shared_key(BOB, ALICE_PUB)


def test_fixed_iv_is_deterministic() -> None:
    iv = bytes(range(16))
    assert nip04.encrypt("hi", ALICE, BOB_PUB, iv=iv) == nip04.encrypt("hi", ALICE, BOB_PUB, iv=iv)
    assert nip04.encrypt("hi", ALICE, BOB_PUB) != nip04.encrypt("hi", ALICE, BOB_PUB)


def test_wrong_key_fails() -> None:
    payload = nip04.encrypt("a secret message that spans blocks", ALICE, BOB_PUB)
    eve = generate_private_key()
    # Without a MAC a wrong key can occasionally yield valid padding + UTF-8; it must never
    # yield the plaintext, and nearly always fails.
    try:
        result = nip04.decrypt(payload, eve, ALICE_PUB)
    except Nip04Error:
        return
    assert result != "a secret message that spans blocks"


GOOD = nip04.encrypt("hello", ALICE, BOB_PUB)
GOOD_CT, GOOD_IV = GOOD.split("?iv=")


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "nonsense",
        GOOD_CT,  # no iv
        f"{GOOD_CT}?iv={GOOD_IV}?iv={GOOD_IV}",  # two separators
        f"{GOOD_CT}?iv=",  # empty iv
        f"?iv={GOOD_IV}",  # empty ciphertext
        f"{GOOD_CT}?iv=AAAA",  # 3-byte iv
        f"{GOOD_CT}!?iv={GOOD_IV}",  # bad base64
        f"{GOOD_CT}?iv={GOOD_IV}\n",  # trailing newline
        f"{base64.b64encode(b'short').decode()}?iv={GOOD_IV}",  # not a block multiple
        f"{GOOD_CT}?iv={base64.b64encode(bytes(16)).decode()}",  # wrong iv -> padding/utf8
        f"{GOOD_CT}éé?iv={GOOD_IV}",  # non-ascii
    ],
)
def test_malformed(payload: str) -> None:
    with pytest.raises(Nip04Error):
        nip04.decrypt(payload, BOB, ALICE_PUB)


def test_bad_padding_rejected() -> None:
    # Encrypt a block whose last byte is not valid PKCS#7 padding (0x00).
    from Crypto.Cipher import AES

    iv = bytes(16)
    ct = AES.new(nip04.shared_key(ALICE, BOB_PUB), AES.MODE_CBC, iv=iv).encrypt(bytes(16))
    payload = f"{base64.b64encode(ct).decode()}?iv={base64.b64encode(iv).decode()}"
    with pytest.raises(Nip04Error, match="decryption failed"):
        nip04.decrypt(payload, BOB, ALICE_PUB)


def test_size_limit_and_types() -> None:
    with pytest.raises(Nip04Error, match="too long"):
        nip04.decrypt("A" * 100 + "?iv=" + GOOD_IV, BOB, ALICE_PUB, max_payload_len=50)
    with pytest.raises(Nip04Error):
        nip04.decrypt(b"x?iv=y", BOB, ALICE_PUB)  # type: ignore[arg-type]
    with pytest.raises(Nip04Error):
        nip04.encrypt("x", ALICE, BOB_PUB, iv=bytes(8))


def test_invalid_keys() -> None:
    with pytest.raises(Nip04Error):
        nip04.encrypt("x", bytes(32), BOB_PUB)
    with pytest.raises(Nip04Error):
        nip04.encrypt("x", ALICE, b"\xff" * 32)
    with pytest.raises(Nip04Error):
        nip04.decrypt(GOOD, BOB, b"\x00" * 32)


@pytest.mark.parametrize("plaintext", MESSAGES[1:] + ["q" * 70000])
def test_interop_ours_to_nostr_sdk(plaintext: str) -> None:
    payload = nip04.encrypt(plaintext, ALICE, BOB_PUB)
    got = sdk.nip04_decrypt(
        sdk.SecretKey.parse(BOB.hex()), sdk.PublicKey.parse(ALICE_PUB.hex()), payload
    )
    assert got == plaintext


@pytest.mark.parametrize("plaintext", MESSAGES[1:] + ["q" * 70000])
def test_interop_nostr_sdk_to_ours(plaintext: str) -> None:
    payload = sdk.nip04_encrypt(
        sdk.SecretKey.parse(ALICE.hex()), sdk.PublicKey.parse(BOB_PUB.hex()), plaintext
    )
    assert nip04.decrypt(payload, BOB, ALICE_PUB) == plaintext
