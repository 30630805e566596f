"""The sealed state: key hierarchy, round trips, authorization, swaps, rollback, revocation,
and the committed v1 fixture that must keep opening.

Regenerate the fixture ONLY for a new format version (never to make a failing test pass):
    .venv/bin/python tests/test_vault.py --write-fixture
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from signer_core.crypto import nip44
from signer_core.crypto.hkdf import hkdf, hkdf_extract
from signer_core.crypto.secp import ecdh_x, xonly_pubkey
from signer_core.stores.local import LocalFolderStore, LocalGenerationGuard
from signer_core.vault import keys, sealed
from signer_core.vault.sealed import (
    Malformed,
    RolledBack,
    Tampered,
    Unauthorized,
    VaultError,
    WrongWallet,
)

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_BLOB = FIXTURES / "state-v1.sealed"
FIXTURE_META = FIXTURES / "state-v1.json"


def _test_key(label: str) -> bytes:
    # Deterministic TEST-ONLY keys (all valid scalars: sha256 outputs below n with overwhelming
    # probability; xonly_pubkey() below would raise otherwise).
    return hashlib.sha256(b"nwc-signer test key: " + label.encode()).digest()


ROOT = _test_key("root")
ALICE = _test_key("alice client")  # client secrets (what the NWC URI's secret= holds)
BOB = _test_key("bob client")
MALLORY = _test_key("mallory client")
WALLET = "wallet-test-1"


def _pub(secret: bytes) -> str:
    return xonly_pubkey(secret).hex()


def _client_side_conversation_key(client_secret: bytes, service_pubkey_hex: str) -> bytes:
    # What an NWC client computes (NIP-44 v2) from its secret and the URI's service pubkey
    service = bytes.fromhex(service_pubkey_hex)
    key = nip44.get_conversation_key(client_secret, service)
    assert key == hkdf_extract(b"nip44-v2", ecdh_x(client_secret, service))
    return key


STATE: dict[str, Any] = {
    "version": 1,
    "balance_msat": 21_000,
    "connections": {"alice": {"budget": {"max_msat": 100_000, "renewal": "monthly"}}},
    "ledger": [{"id": "ab" * 32, "status": "done", "response": None}],
    "note": "Zürich ⚡ ünïcødé",
    "ratio": 0.125,
    "flags": [True, False, None],
}


def _seal(
    state: dict[str, Any] | None = None,
    *,
    generation: int = 1,
    dek: bytes | None = None,
    connections: dict[str, str] | None = None,
    previous: sealed.SealedBlob | None = None,
    wallet_id: str = WALLET,
    root: bytes = ROOT,
) -> tuple[bytes, bytes]:
    dek = dek if dek is not None else sealed.new_dek()
    if connections is None:
        connections = {"alice": _pub(ALICE), "bob": _pub(BOB)}
    blob = sealed.seal(
        STATE if state is None else state,
        root_secret=root,
        wallet_id=wallet_id,
        generation=generation,
        dek=dek,
        connections=connections,
        previous=previous,
    )
    return blob, dek


def _open_as(
    blob: bytes | sealed.SealedBlob,
    client_secret: bytes,
    connection_id: str,
    *,
    min_generation: int = 1,
    wallet_id: str = WALLET,
    service_pubkey_hex: str | None = None,
) -> sealed.Opened:
    return sealed.open_with_connection(
        blob,
        root_secret=ROOT,
        service_pubkey_hex=service_pubkey_hex or keys.service_pubkey(ROOT, connection_id),
        client_pubkey_hex=_pub(client_secret),
        expected_wallet_id=wallet_id,
        min_generation=min_generation,
    )


def _open_admin(blob: bytes | sealed.SealedBlob, *, min_generation: int = 1) -> sealed.Opened:
    return sealed.open_with_admin(
        blob, root_secret=ROOT, expected_wallet_id=WALLET, min_generation=min_generation
    )


def _rewrite_header(blob: bytes, edit: Any) -> bytes:
    """Re-encode a blob with an edited (still canonical, still well-formed) header and the
    original body: what an attacker with write access to storage can produce."""
    header_len = int.from_bytes(blob[5:9], "big")
    header = json.loads(blob[9 : 9 + header_len])
    edit(header)
    raw = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return blob[:5] + len(raw).to_bytes(4, "big") + raw + blob[9 + header_len :]


# --- keys -----------------------------------------------------------------------------


def test_service_key_is_deterministic_distinct_and_valid() -> None:
    a1 = keys.service_secret(ROOT, "alice")
    assert a1 == keys.service_secret(ROOT, "alice")
    assert a1 != keys.service_secret(ROOT, "bob")
    assert a1 != keys.service_secret(_test_key("other root"), "alice")
    assert keys.service_pubkey(ROOT, "alice") == xonly_pubkey(a1).hex()
    assert len(keys.service_pubkey(ROOT, "alice")) == 64


def test_service_key_rederives_with_a_counter_when_not_a_scalar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = hkdf
    infos: list[bytes] = []

    def fake(ikm: bytes, *, salt: bytes, info: bytes, length: int = 32) -> bytes:
        infos.append(info)
        if info.endswith(b"\x00\x00"):  # counter 0: pretend the output is >= n
            return b"\xff" * 32
        return real(ikm, salt=salt, info=info, length=length)

    monkeypatch.setattr("signer_core.vault.keys.hkdf", fake)
    secret = keys.service_secret(ROOT, "alice")
    assert infos == [
        b"nwc-signer/v1/service-key\x00alice\x00\x00",
        b"nwc-signer/v1/service-key\x00alice\x00\x01",
    ]
    assert secret == real(ROOT, salt=keys.SALT, info=infos[1])
    xonly_pubkey(secret)  # valid


def test_connection_kek_is_the_same_from_the_client_secret_and_from_the_service_side() -> None:
    spk = keys.service_pubkey(ROOT, "alice")
    from_client = keys.connection_kek(_client_side_conversation_key(ALICE, spk), WALLET, spk)
    spk2, from_service = keys.service_connection_kek(
        ROOT, "alice", WALLET, bytes.fromhex(_pub(ALICE))
    )
    assert spk2 == spk
    assert from_client == from_service
    # and it depends on the client, the wallet and the service key
    assert from_client != keys.connection_kek(_client_side_conversation_key(BOB, spk), WALLET, spk)
    assert from_client != keys.connection_kek(
        _client_side_conversation_key(ALICE, spk), "other-wallet", spk
    )


def test_derived_keys_are_separated() -> None:
    spk = keys.service_pubkey(ROOT, "alice")
    dek = bytes(32)
    derived = {
        keys.service_secret(ROOT, "alice"),
        keys.admin_kek(ROOT, WALLET),
        keys.admin_kek(ROOT, "other-wallet"),
        keys.body_key(ROOT, dek, WALLET),
        keys.wrap_tag_key(ROOT, WALLET),
        keys.connection_kek(_client_side_conversation_key(ALICE, spk), WALLET, spk),
    }
    assert len(derived) == 6


@pytest.mark.parametrize("bad", ["", "a\x00b", "tab\there", "x" * 129])
def test_ids_are_validated(bad: str) -> None:
    with pytest.raises(ValueError):
        keys.service_secret(ROOT, bad)
    with pytest.raises(ValueError):
        keys.admin_kek(ROOT, bad)


def test_root_secret_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        keys.service_secret(b"short", "alice")


# --- round trips ------------------------------------------------------------------------


def test_round_trip_through_a_connection_and_the_admin_wrap() -> None:
    blob, dek = _seal()
    for secret, cid in ((ALICE, "alice"), (BOB, "bob")):
        opened = _open_as(blob, secret, cid)
        assert opened.state == STATE
        assert opened.connection_id == cid
        assert opened.dek == dek
        assert opened.generation == 1
        assert opened.wallet_id == WALLET
    admin = _open_admin(blob)
    assert admin.state == STATE and admin.connection_id is None and admin.dek == dek


def test_parse_exposes_the_header_only() -> None:
    blob, _ = _seal(generation=7)
    parsed = sealed.parse(blob)
    assert parsed.format_version == 1
    assert parsed.wallet_id == WALLET
    assert parsed.generation == 7
    assert parsed.alg == "A256GCM"
    assert parsed.connection_for(keys.service_pubkey(ROOT, "alice")) == "alice"
    assert parsed.connection_for(keys.service_pubkey(ROOT, "bob")) == "bob"
    assert parsed.connection_for(_pub(MALLORY)) is None
    assert blob.startswith(b"NWCS\x01")
    assert b"Z\\u00fcrich" not in blob and b"balance" not in blob  # nothing of the state


def test_new_wallet_with_no_connections_opens_with_admin_only() -> None:
    blob, _ = _seal(connections={})
    assert _open_admin(blob).state == STATE
    with pytest.raises(Unauthorized):
        _open_as(blob, ALICE, "alice")


def test_generation_must_be_positive_and_dek_32_bytes() -> None:
    with pytest.raises(ValueError):
        _seal(generation=0)
    with pytest.raises(ValueError):
        _seal(dek=b"x" * 31)
    with pytest.raises(ValueError):
        _seal(connections={"alice": "zz" * 32})


# --- authorization ----------------------------------------------------------------------


def test_a_strangers_client_pubkey_is_unauthorized() -> None:
    blob, _ = _seal()
    with pytest.raises(Unauthorized, match="does not open"):
        _open_as(blob, MALLORY, "alice")


def test_a_client_using_another_connections_service_key_is_unauthorized() -> None:
    blob, _ = _seal()
    with pytest.raises(Unauthorized):
        _open_as(blob, BOB, "alice")


def test_an_unknown_service_pubkey_is_unauthorized() -> None:
    blob, _ = _seal()
    with pytest.raises(Unauthorized, match="no connection"):
        _open_as(blob, ALICE, "carol")  # carol's service key has no wrap


@pytest.mark.parametrize("client", ["", "zz" * 32, "ab" * 31, "f" * 64])
def test_a_garbage_client_pubkey_is_unauthorized(client: str) -> None:
    # "f"*64 is not the x coordinate of any curve point (>= p)
    blob, _ = _seal()
    with pytest.raises(Unauthorized):
        sealed.open_with_connection(
            blob,
            root_secret=ROOT,
            service_pubkey_hex=keys.service_pubkey(ROOT, "alice"),
            client_pubkey_hex=client,
            expected_wallet_id=WALLET,
            min_generation=1,
        )


def test_a_wrong_root_secret_cannot_use_the_admin_wrap() -> None:
    blob, _ = _seal()
    with pytest.raises(Unauthorized):
        sealed.open_with_admin(
            blob, root_secret=_test_key("other root"), expected_wallet_id=WALLET, min_generation=1
        )


def test_the_unwrapped_dek_alone_does_not_open_the_body() -> None:
    # A client can unwrap the DEK (it knows its own secret); without the root secret the body
    # key is out of reach: the body does not open under the bare DEK.
    blob, dek = _seal()
    parsed = sealed.parse(blob)
    assert sealed._gcm_decrypt(dek, parsed.aad, parsed.body) is None
    assert sealed._gcm_decrypt(keys.body_key(ROOT, dek, WALLET), parsed.aad, parsed.body)


# --- swaps, rollback ----------------------------------------------------------------------


def test_a_swapped_blob_of_another_wallet_is_refused() -> None:
    other, _ = _seal(wallet_id="wallet-other")
    with pytest.raises(WrongWallet):
        _open_as(other, ALICE, "alice")
    with pytest.raises(WrongWallet):
        _open_admin(other)


def test_a_rolled_back_blob_is_refused() -> None:
    old, _ = _seal(generation=4)
    with pytest.raises(RolledBack, match="generation 4 is below the high-water mark 5"):
        _open_as(old, ALICE, "alice", min_generation=5)
    with pytest.raises(RolledBack):
        _open_admin(old, min_generation=5)
    assert _open_as(old, ALICE, "alice", min_generation=4).generation == 4


def test_a_faked_wallet_id_in_the_header_is_refused() -> None:
    other, _ = _seal(wallet_id="wallet-other")
    faked = _rewrite_header(other, lambda h: h.__setitem__("wallet_id", WALLET))
    with pytest.raises(Unauthorized):  # the wraps are bound to the real wallet id
        _open_as(faked, ALICE, "alice")
    with pytest.raises(Unauthorized):
        _open_admin(faked)


def test_a_faked_generation_in_the_header_is_refused() -> None:
    blob, _ = _seal(generation=3)
    bumped = _rewrite_header(blob, lambda h: h.__setitem__("generation", 9))
    assert sealed.parse(bumped).generation == 9
    with pytest.raises(Tampered):
        _open_as(bumped, ALICE, "alice", min_generation=9)
    with pytest.raises(Tampered):
        _open_admin(bumped, min_generation=9)


def test_swapping_wraps_between_connections_is_refused() -> None:
    blob, _ = _seal()
    a, b = keys.service_pubkey(ROOT, "alice"), keys.service_pubkey(ROOT, "bob")

    def swap_payloads(h: dict[str, Any]) -> None:
        wa, wb = h["wraps"][a], h["wraps"][b]
        wa["w"], wb["w"] = wb["w"], wa["w"]

    def swap_entries(h: dict[str, Any]) -> None:
        h["wraps"][a], h["wraps"][b] = h["wraps"][b], h["wraps"][a]

    for edit in (swap_payloads, swap_entries):
        tampered = _rewrite_header(blob, edit)
        for secret, cid in ((ALICE, "alice"), (BOB, "bob")):
            with pytest.raises(Unauthorized):
                _open_as(tampered, secret, cid)
        with pytest.raises(Tampered):  # the admin wrap still opens: the body notices
            _open_admin(tampered)


def test_a_non_canonical_header_is_malformed() -> None:
    blob, _ = _seal()
    header_len = int.from_bytes(blob[5:9], "big")
    raw = json.loads(blob[9 : 9 + header_len])
    spaced = json.dumps(raw, sort_keys=True).encode()
    with pytest.raises(Malformed, match="canonical"):
        sealed.parse(blob[:5] + len(spaced).to_bytes(4, "big") + spaced + blob[9 + header_len :])


def test_unknown_magic_or_format_version_is_malformed() -> None:
    blob, _ = _seal()
    with pytest.raises(Malformed, match="magic"):
        sealed.parse(b"XXXX" + blob[4:])
    with pytest.raises(Malformed, match="format version 2"):
        sealed.parse(blob[:4] + b"\x02" + blob[5:])
    with pytest.raises(Malformed):
        sealed.parse(b"")


# --- wrap reuse, revocation ---------------------------------------------------------------


def _count_ecdh(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = keys._conversation_key

    def counting(priv: bytes, pub: bytes) -> bytes:
        calls[0] += 1
        return real(priv, pub)

    monkeypatch.setattr(keys, "_conversation_key", counting)
    return calls


def test_a_normal_write_reuses_the_wraps_and_costs_no_ecdh(monkeypatch: pytest.MonkeyPatch) -> None:
    blob1, dek = _seal()
    opened = _open_as(blob1, ALICE, "alice")
    calls = _count_ecdh(monkeypatch)
    blob2, _ = _seal(
        {**STATE, "balance_msat": 1}, generation=2, dek=opened.dek, previous=opened.sealed
    )
    assert calls[0] == 0
    assert sealed.parse(blob2).wraps == sealed.parse(blob1).wraps
    for secret, cid in ((ALICE, "alice"), (BOB, "bob")):
        assert _open_as(blob2, secret, cid, min_generation=2).state["balance_msat"] == 1


def test_wraps_are_recomputed_when_the_dek_or_the_client_key_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blob1, dek = _seal()
    calls = _count_ecdh(monkeypatch)
    _seal(generation=2, dek=sealed.new_dek(), previous=sealed.parse(blob1))
    assert calls[0] == 2
    calls[0] = 0
    # same DEK, but "bob" now claims mallory's client key: bob's wrap must not be reused
    blob3, _ = _seal(
        generation=2,
        dek=dek,
        connections={"alice": _pub(ALICE), "bob": _pub(MALLORY)},
        previous=sealed.parse(blob1),
    )
    assert calls[0] == 1
    monkeypatch.undo()
    with pytest.raises(Unauthorized):
        _open_as(blob3, BOB, "bob")
    assert _open_as(blob3, MALLORY, "bob").state == STATE


def test_revocation_rotates_the_dek_and_locks_out_the_revoked_client() -> None:
    blob1, dek1 = _seal()
    opened = _open_admin(blob1)
    dek2 = sealed.new_dek()
    blob2, _ = _seal(
        generation=2, dek=dek2, connections={"alice": _pub(ALICE)}, previous=opened.sealed
    )
    parsed2 = sealed.parse(blob2)
    bob_spk = keys.service_pubkey(ROOT, "bob")
    assert bob_spk not in parsed2.wraps
    assert (
        parsed2.wraps[keys.service_pubkey(ROOT, "alice")]
        != opened.sealed.wraps[keys.service_pubkey(ROOT, "alice")]
    )  # recomputed under the new DEK

    with pytest.raises(Unauthorized):
        _open_as(blob2, BOB, "bob", min_generation=2)

    # storage attacker copies bob's old wrap into the new blob: it unwraps the OLD dek only
    old_entry = json.loads(blob1[9 : 9 + int.from_bytes(blob1[5:9], "big")])["wraps"][bob_spk]
    with_old_wrap = _rewrite_header(blob2, lambda h: h["wraps"].__setitem__(bob_spk, old_entry))
    with pytest.raises((Tampered, Unauthorized)):
        _open_as(with_old_wrap, BOB, "bob", min_generation=2)

    # the remaining client opens the new blob and gets the new DEK
    alice = _open_as(blob2, ALICE, "alice", min_generation=2)
    assert alice.dek == dek2 != dek1 and alice.state == STATE
    # and the old blob, where bob still had a wrap, is refused once the mark moved on
    with pytest.raises(RolledBack):
        _open_as(blob1, BOB, "bob", min_generation=2)


# --- with the local store and guard ----------------------------------------------------------


def test_write_cycle_with_store_and_guard_refuses_a_put_back_blob(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "data")
    guard = LocalGenerationGuard(tmp_path / "data" / "generation")
    blob1, dek = _seal(generation=1)
    v1 = store.write(blob1, None)
    guard.advance(1)

    got = store.read()
    assert got is not None
    opened = _open_as(got[0], ALICE, "alice", min_generation=guard.high_water())
    state = {**opened.state, "balance_msat": opened.state["balance_msat"] + 1000}
    blob2, _ = _seal(
        state, generation=opened.generation + 1, dek=opened.dek, previous=opened.sealed
    )
    store.write(blob2, got[1])
    guard.advance(2)

    # an attacker with storage write access puts the older blob back
    Path(store.path).write_bytes(blob1)
    with pytest.raises(RolledBack):
        _open_as(blob1, ALICE, "alice", min_generation=guard.high_water())
    assert v1 == store.read()[1]  # type: ignore[index]


# --- the committed v1 fixture -----------------------------------------------------------------


FIXTURE_STATE: dict[str, Any] = {
    "version": 1,
    "balance_msat": 123_456_000,
    "connections": {
        "conn-alice": {"name": "Alice's phone", "permissions": ["pay_invoice", "get_balance"]},
        "conn-bob": {"name": "Bob ⚡ script", "budget": {"max_msat": 5_000_000}},
    },
    "ledger": {"e" * 64: {"status": "done", "response": {"result_type": "get_balance"}}},
    "backend": {"kind": "cashu", "proofs": [{"amount": 8, "secret": "s1", "C": "02" + "c" * 64}]},
    "float": 1.5,
    "none": None,
}


def write_fixture() -> None:  # pragma: no cover - run by hand for a NEW format version only
    FIXTURES.mkdir(exist_ok=True)
    wallet_id = "fixture-wallet-v1"
    conns = {"conn-alice": ALICE, "conn-bob": BOB}
    blob = sealed.seal(
        FIXTURE_STATE,
        root_secret=ROOT,
        wallet_id=wallet_id,
        generation=3,
        dek=sealed.new_dek(),
        connections={cid: _pub(secret) for cid, secret in conns.items()},
    )
    FIXTURE_BLOB.write_bytes(blob)
    meta = {
        "note": "TEST-ONLY keys. Format v1 fixture; must keep opening. Never regenerate.",
        "root_secret": ROOT.hex(),
        "wallet_id": wallet_id,
        "generation": 3,
        "connections": {
            cid: {
                "client_secret": secret.hex(),
                "client_pubkey": _pub(secret),
                "service_pubkey": keys.service_pubkey(ROOT, cid),
            }
            for cid, secret in conns.items()
        },
        "state": FIXTURE_STATE,
        "blob_sha256": hashlib.sha256(blob).hexdigest(),
    }
    FIXTURE_META.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


def _fixture() -> tuple[bytes, dict[str, Any]]:
    return FIXTURE_BLOB.read_bytes(), json.loads(FIXTURE_META.read_text())


def test_the_v1_fixture_is_intact() -> None:
    blob, meta = _fixture()
    assert hashlib.sha256(blob).hexdigest() == meta["blob_sha256"]
    assert blob[:5] == b"NWCS\x01"


def test_the_v1_fixture_still_opens_with_every_path() -> None:
    blob, meta = _fixture()
    root = bytes.fromhex(meta["root_secret"])
    parsed = sealed.parse(blob)
    assert parsed.wallet_id == meta["wallet_id"] and parsed.generation == meta["generation"]
    for cid, conn in meta["connections"].items():
        # the service-key derivation is pinned too: the URI host of a connection never changes
        assert keys.service_pubkey(root, cid) == conn["service_pubkey"]
        assert parsed.connection_for(conn["service_pubkey"]) == cid
        opened = sealed.open_with_connection(
            parsed,
            root_secret=root,
            service_pubkey_hex=conn["service_pubkey"],
            client_pubkey_hex=conn["client_pubkey"],
            expected_wallet_id=meta["wallet_id"],
            min_generation=meta["generation"],
        )
        assert opened.state == meta["state"]
        assert opened.connection_id == cid
        # the client side computes the same KEK from its secret (what the URI gives it)
        client = bytes.fromhex(conn["client_secret"])
        kek = keys.connection_kek(
            _client_side_conversation_key(client, conn["service_pubkey"]),
            meta["wallet_id"],
            conn["service_pubkey"],
        )
        w = parsed.wraps[conn["service_pubkey"]].wrapped
        aad = (
            b"NWCS\x01wrap\x00"
            + meta["wallet_id"].encode()
            + b"\x00"
            + conn["service_pubkey"].encode()
        )
        assert sealed._gcm_decrypt(kek, aad, w) == opened.dek
    admin = sealed.open_with_admin(
        blob, root_secret=root, expected_wallet_id=meta["wallet_id"], min_generation=1
    )
    assert admin.state == meta["state"]


def test_resealing_the_v1_fixture_reuses_its_wraps() -> None:
    # pins the reuse-tag derivation: a normal write after an upgrade still costs no ECDH
    blob, meta = _fixture()
    root = bytes.fromhex(meta["root_secret"])
    opened = sealed.open_with_admin(
        blob, root_secret=root, expected_wallet_id=meta["wallet_id"], min_generation=1
    )
    new = sealed.seal(
        opened.state,
        root_secret=root,
        wallet_id=meta["wallet_id"],
        generation=opened.generation + 1,
        dek=opened.dek,
        connections={cid: c["client_pubkey"] for cid, c in meta["connections"].items()},
        previous=opened.sealed,
    )
    assert sealed.parse(new).wraps == opened.sealed.wraps


def test_every_error_is_a_vault_error() -> None:
    for cls in (Malformed, WrongWallet, RolledBack, Tampered, Unauthorized):
        assert issubclass(cls, VaultError)


if __name__ == "__main__" and "--write-fixture" in sys.argv:  # pragma: no cover
    write_fixture()
    print(f"wrote {FIXTURE_BLOB} and {FIXTURE_META}")
