"""Property tests of the sealed blob: any state round-trips; any damage is a VaultError.

"Never partial plaintext": every refusal is checked to be a VaultError subclass whose message
(and chained exceptions) carry nothing of the state, and no other exception type escapes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signer_core.crypto.secp import xonly_pubkey
from signer_core.vault import keys, sealed
from signer_core.vault.sealed import RolledBack, Tampered, Unauthorized, VaultError, WrongWallet

ROOT = hashlib.sha256(b"property root").digest()
ALICE = hashlib.sha256(b"property alice").digest()
BOB = hashlib.sha256(b"property bob").digest()
WALLET = "prop-wallet"
SENTINEL = "SENTINEL-7f3a-do-not-leak"
STATE: dict[str, Any] = {
    "secret": SENTINEL,
    "proofs": [{"amount": 2**i, "secret": f"{SENTINEL}-{i}"} for i in range(8)],
}
DEK = hashlib.sha256(b"property dek").digest()
CONNECTIONS = {"alice": xonly_pubkey(ALICE).hex(), "bob": xonly_pubkey(BOB).hex()}
BLOB = sealed.seal(
    STATE, root_secret=ROOT, wallet_id=WALLET, generation=5, dek=DEK, connections=CONNECTIONS
)
ALICE_SPK = keys.service_pubkey(ROOT, "alice")
BOB_SPK = keys.service_pubkey(ROOT, "bob")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
states = st.dictionaries(st.text(max_size=12), json_values, max_size=8)


def _open_alice(blob: bytes) -> sealed.Opened:
    return sealed.open_with_connection(
        blob,
        root_secret=ROOT,
        service_pubkey_hex=ALICE_SPK,
        client_pubkey_hex=CONNECTIONS["alice"],
        expected_wallet_id=WALLET,
        min_generation=5,
    )


def _open_admin(blob: bytes) -> sealed.Opened:
    return sealed.open_with_admin(
        blob, root_secret=ROOT, expected_wallet_id=WALLET, min_generation=5
    )


def _assert_refused(blob: bytes) -> None:
    for opener in (_open_alice, _open_admin):
        with pytest.raises(VaultError) as info:
            opener(blob)
        exc: BaseException | None = info.value
        while exc is not None:  # the whole chain: nothing of the state in any message
            assert SENTINEL not in str(exc) and SENTINEL not in repr(exc.args)
            exc = exc.__cause__ or exc.__context__


def _with_header(blob: bytes, edit: Any) -> bytes:
    n = int.from_bytes(blob[5:9], "big")
    header = json.loads(blob[9 : 9 + n])
    edit(header)
    raw = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return blob[:5] + len(raw).to_bytes(4, "big") + raw + blob[9 + n :]


def test_the_reference_blob_opens() -> None:
    assert _open_alice(BLOB).state == STATE
    assert _open_admin(BLOB).state == STATE


@settings(max_examples=150, deadline=None)
@given(state=states, generation=st.integers(min_value=1, max_value=2**40))
def test_any_state_round_trips(state: dict[str, Any], generation: int) -> None:
    blob = sealed.seal(
        state,
        root_secret=ROOT,
        wallet_id=WALLET,
        generation=generation,
        dek=DEK,
        connections=CONNECTIONS,
    )
    opened = sealed.open_with_connection(
        blob,
        root_secret=ROOT,
        service_pubkey_hex=BOB_SPK,
        client_pubkey_hex=CONNECTIONS["bob"],
        expected_wallet_id=WALLET,
        min_generation=generation,
    )
    assert opened.state == state and opened.generation == generation
    admin = sealed.open_with_admin(
        blob, root_secret=ROOT, expected_wallet_id=WALLET, min_generation=1
    )
    assert admin.state == state


def test_every_single_bit_flip_at_every_position_is_refused() -> None:
    # exhaustive over positions for the lowest and highest bit of each byte
    for index in range(len(BLOB)):
        for mask in (0x01, 0x80):
            damaged = bytearray(BLOB)
            damaged[index] ^= mask
            _assert_refused(bytes(damaged))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_single_byte_change_is_refused(data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(BLOB) - 1))
    xor = data.draw(st.integers(min_value=1, max_value=255))
    damaged = bytearray(BLOB)
    damaged[index] ^= xor
    _assert_refused(bytes(damaged))


def test_every_truncation_is_refused() -> None:
    for length in range(len(BLOB)):
        _assert_refused(BLOB[:length])


@settings(max_examples=100, deadline=None)
@given(extra=st.binary(min_size=1, max_size=64))
def test_appended_bytes_are_refused(extra: bytes) -> None:
    _assert_refused(BLOB + extra)


@settings(max_examples=50, deadline=None)
@given(bump=st.integers(min_value=1, max_value=2**53))
def test_a_generation_bump_is_refused(bump: int) -> None:
    tampered = _with_header(BLOB, lambda h: h.__setitem__("generation", h["generation"] + bump))
    for opener in (_open_alice, _open_admin):
        with pytest.raises(Tampered):
            opener(tampered)


@settings(max_examples=50, deadline=None)
@given(
    wallet_id=st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
    )
)
def test_a_wallet_id_change_is_refused(wallet_id: str) -> None:
    if wallet_id == WALLET:
        return
    tampered = _with_header(BLOB, lambda h: h.__setitem__("wallet_id", wallet_id))
    with pytest.raises(WrongWallet):
        _open_alice(tampered)
    # even when the caller expects the forged id, the wraps are bound to the real one
    with pytest.raises(Unauthorized):
        sealed.open_with_admin(
            tampered, root_secret=ROOT, expected_wallet_id=wallet_id, min_generation=1
        )


@pytest.mark.parametrize("field", ["w", "t", "cid", "entry"])
def test_swapping_wrap_parts_between_connections_is_refused(field: str) -> None:
    def swap(h: dict[str, Any]) -> None:
        a, b = h["wraps"][ALICE_SPK], h["wraps"][BOB_SPK]
        if field == "entry":
            h["wraps"][ALICE_SPK], h["wraps"][BOB_SPK] = b, a
        else:
            a[field], b[field] = b[field], a[field]

    tampered = _with_header(BLOB, swap)
    _assert_refused(tampered)


def test_a_lower_generation_is_refused_as_rolled_back() -> None:
    with pytest.raises(RolledBack):
        sealed.open_with_admin(BLOB, root_secret=ROOT, expected_wallet_id=WALLET, min_generation=6)


def test_a_removed_or_added_wrap_is_refused() -> None:
    removed = _with_header(BLOB, lambda h: h["wraps"].pop(BOB_SPK))
    _assert_refused(removed)
    carol_spk = keys.service_pubkey(ROOT, "carol")
    added = _with_header(
        BLOB, lambda h: h["wraps"].__setitem__(carol_spk, {**h["wraps"][ALICE_SPK], "cid": "carol"})
    )
    _assert_refused(added)
