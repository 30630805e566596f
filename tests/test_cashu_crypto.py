"""Cashu crypto and arithmetic against the official vectors (cashubtc/nuts tests/00, 12, 13)
and a few properties; no mint needed."""

from __future__ import annotations

import os

import pytest
from coincurve import PrivateKey, PublicKey
from mnemonic import Mnemonic

from signer_core.crypto import ec
from signer_core.wallets.base import WalletEnv
from signer_core.wallets.cashu import dhke
from signer_core.wallets.cashu.amounts import (
    blank_outputs_count,
    fee_for,
    input_fee,
    select_covering,
    select_exact,
    send_target,
    split_amount,
)
from signer_core.wallets.cashu.core import CashuCore, SignatureError, derive_keyset_id
from signer_core.wallets.cashu.nut13 import SecretDeriver, keyset_id_int
from signer_core.wallets.cashu.state import create_data

# --- NUT-00 -------------------------------------------------------------------------------

HASH_TO_CURVE = [
    ("00" * 32, "024cce997d3b518f739663b757deaec95bcd9473c30a14ac2fd04023a739d1a725"),
    ("00" * 31 + "01", "022e7158e11c9506f1aa4248bf531298daa7febd6194f003edcd9b93ade6253acf"),
    ("00" * 31 + "02", "026cdbe15362df59cd1dd3c9c11de8aedac2106eca69236ecd9fbe117af897be4f"),
]


@pytest.mark.parametrize(("message", "expected"), HASH_TO_CURVE)
def test_hash_to_curve_vectors(message: str, expected: str) -> None:
    assert dhke.point_hex(dhke.hash_to_curve(bytes.fromhex(message))) == expected


@pytest.mark.parametrize(
    ("x", "r", "b_blind"),
    [
        (
            "d341ee4871f1f889041e63cf0d3823c713eea6aff01e80f1719f08f9e5be98f6",
            "99fce58439fc37412ab3468b73db0569322588f62fb3a49182d67e23d877824a",
            "033b1a9737a40cc3fd9b6af4b723632b76a67a36782596304612a6c2bfb5197e6d",
        ),
        (
            "f1aaf16c2239746f369572c0784d9dd3d032d952c2d992175873fb58fae31a60",
            "f78476ea7cc9ade20f9e05e58a804cf19533f03ea805ece5fee88c8e2874ba50",
            "029bdf2d716ee366eddf599ba252786c1033f47e230248a4612a5670ab931f1763",
        ),
    ],
)
def test_blinded_message_vectors(x: str, r: str, b_blind: str) -> None:
    y = dhke.hash_to_curve(bytes.fromhex(x))
    # cross-checked with libsecp256k1 itself (coincurve), whichever backend dhke runs on
    blinded = PublicKey.combine_keys(
        [PublicKey(y.compressed()), PrivateKey(bytes.fromhex(r)).public_key]
    )
    assert bytes(blinded.format()).hex() == b_blind
    assert dhke.point_hex(ec.add(y, ec.mul_g(bytes.fromhex(r)))) == b_blind


@pytest.mark.parametrize(
    ("k", "c_blind"),
    [
        ("00" * 31 + "01", "02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2"),
        ("7f" * 32, "0398bc70ce8184d27ba89834d19f5199c84443c31131e48d3c1214db24247d005d"),
    ],
)
def test_blinded_signature_vectors(k: str, c_blind: str) -> None:
    b_blind = dhke.point("02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2")
    signed, _, _ = dhke.sign_blinded(b_blind, bytes.fromhex(k))
    assert dhke.point_hex(signed) == c_blind


def test_blind_sign_unblind_gives_k_times_y() -> None:
    k = os.urandom(32)
    secret, r = os.urandom(32).hex(), os.urandom(32)
    c_blind, e, s = dhke.sign_blinded(dhke.blind(secret, r), k)
    mint_key = dhke.public_key_of(k)
    c = dhke.unblind(c_blind, r, mint_key)
    assert c == ec.mul(dhke.secret_point(secret), k)
    assert dhke.verify_dleq(dhke.blind(secret, r), c_blind, e, s, mint_key)
    assert dhke.verify_proof_dleq(secret, c, e, s, r, mint_key)


# --- NUT-12 -------------------------------------------------------------------------------

G = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
B_12 = "02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2"


def test_hash_e_vector() -> None:
    one = dhke.point("02" + "00" * 31 + "01")
    got = dhke.hash_e(one, one, one, dhke.point(B_12))
    assert got.hex() == "a4dc034b74338c28c6bc3ea49731f2a24440fc7c4affc08b31a93fc9fbe6401e"


def test_deterministic_dleq_nonce_vector() -> None:
    c_blind, e, s = dhke.sign_blinded(dhke.point(B_12), bytes.fromhex("00" * 31 + "02"))
    assert dhke.point_hex(c_blind) == (
        "0244eccfc7a348274458bb38044c7f3c389b3c2086c7ec18b5812d2877ab937787"
    )
    assert e.hex() == "2a16ffee280aff3c429045607f9b8e0bf8b35910c44c1b20b9dfaf01b263d7b3"
    assert s.hex() == "9df27731238334718d120d4f74611a7c668233f988e687ac3fb188f0a34a2dab"


def test_dleq_on_blind_signature_vector_and_tampering() -> None:
    e = bytes.fromhex("9818e061ee51d5c8edc3342369a554998ff7b4381c8652d724cdf46429be73d9")
    s = bytes.fromhex("9818e061ee51d5c8edc3342369a554998ff7b4381c8652d724cdf46429be73da")
    b_blind, c_blind, a = dhke.point(B_12), dhke.point(B_12), dhke.point(G)
    assert dhke.verify_dleq(b_blind, c_blind, e, s, a)
    other = dhke.point("0398bc70ce8184d27ba89834d19f5199c84443c31131e48d3c1214db24247d005d")
    assert not dhke.verify_dleq(b_blind, other, e, s, a)  # tampered C_
    assert not dhke.verify_dleq(b_blind, c_blind, e, s[:-1] + b"\x00", a)  # tampered s
    assert not dhke.verify_dleq(b_blind, c_blind, s, s, a)  # tampered e
    assert not dhke.verify_dleq(b_blind, c_blind, e, b"\x00" * 32, a)  # zero s: no crash


def test_dleq_on_proof_vector() -> None:
    assert dhke.verify_proof_dleq(
        "daf4dd00a2b68a0858a80450f52c8a7d2ccf87d375e43e216e0c571f089f63e9",
        dhke.point("024369d2d22a80ecf78f3937da9d5f30c1b9f74f0c32684d583cca0fa6a61cdcfc"),
        bytes.fromhex("b31e58ac6527f34975ffab13e70a48b6d2b0d35abc4b03f0151f09ee1a9763d4"),
        bytes.fromhex("8fbae004c59e754d71df67e392b6ae4e29293113ddc2ec86592a0431d16306d8"),
        bytes.fromhex("a6d13fcd7a18442e6076f5e1e7c887ad5de40a019824bdfa9fe740d302e8d861"),
        dhke.point(G),
    )
    assert not dhke.verify_proof_dleq(  # a different secret with the same proof
        "daf4dd00a2b68a0858a80450f52c8a7d2ccf87d375e43e216e0c571f089f63ea",
        dhke.point("024369d2d22a80ecf78f3937da9d5f30c1b9f74f0c32684d583cca0fa6a61cdcfc"),
        bytes.fromhex("b31e58ac6527f34975ffab13e70a48b6d2b0d35abc4b03f0151f09ee1a9763d4"),
        bytes.fromhex("8fbae004c59e754d71df67e392b6ae4e29293113ddc2ec86592a0431d16306d8"),
        bytes.fromhex("a6d13fcd7a18442e6076f5e1e7c887ad5de40a019824bdfa9fe740d302e8d861"),
        dhke.point(G),
    )


def _core_with_keyset(mint_secret: bytes) -> tuple[CashuCore, str]:
    """A wallet core whose cached keyset has one known key (amount 8)."""
    keys = {8: dhke.point_hex(dhke.public_key_of(mint_secret))}
    kid = derive_keyset_id(keys, "01", "sat", 0, None)
    data = create_data("http://127.0.0.1:1")
    data["keysets"][kid] = {
        "unit": "sat",
        "active": True,
        "input_fee_ppk": 0,
        "final_expiry": None,
        "keys": {"8": keys[8]},
    }
    data["keysets_checked_at"] = 10**12
    return CashuCore(data, WalletEnv(seed=os.urandom(64), now=1)), kid


def test_wallet_rejects_a_tampered_promise() -> None:
    k = os.urandom(32)
    core, kid = _core_with_keyset(k)
    [out] = core.make_outputs(kid, [8], 0)
    c_blind, e, s = dhke.sign_blinded(dhke.point(out.b_blind), k)
    good = {
        "id": kid,
        "amount": 8,
        "C_": dhke.point_hex(c_blind),
        "dleq": {"e": e.hex(), "s": s.hex()},
    }
    [proof] = core.to_proofs([out], [good])
    assert proof["C"] == dhke.point_hex(ec.mul(dhke.secret_point(out.secret), k))

    forged, _, _ = dhke.sign_blinded(dhke.point(out.b_blind), os.urandom(32))
    for bad in (
        {**good, "C_": dhke.point_hex(forged)},  # signed with another key
        {**good, "dleq": {"e": e.hex(), "s": os.urandom(32).hex()}},  # broken proof
        {**good, "amount": 4},  # amount the output was not made for
        {**good, "id": "01" + "00" * 32},  # another keyset
    ):
        with pytest.raises(SignatureError):
            core.to_proofs([out], [bad])


NUT02_KEYS = {
    1: "03a40f20667ed53513075dc51e715ff2046cad64eb68960632269ba7f0210e38bc",
    2: "03fd4ce5a16b65576145949e6f99f445f8249fee17c606b688b504a849cdc452de",
    4: "02648eccfa4c026960966276fa5a4cae46ce0fd432211a4f449bf84f13aa5f8303",
    8: "02fdfd6796bfeac490cbee12f778f867f0a2c68f6508d17c649759ea0dc3547528",
}


def test_keyset_id_vectors() -> None:
    """NUT-02 tests: version 00 and version 01 (unit, input fee and final expiry bound in)."""
    assert derive_keyset_id(NUT02_KEYS, "00", "sat", 0, None) == "00456a94ab4e1c46"
    assert derive_keyset_id(NUT02_KEYS, "01", "sat", 100, 2059210353) == (
        "015ba18a8adcd02e715a58358eb618da4a4b3791151a4bee5e968bb88406ccf76a"
    )
    assert derive_keyset_id(NUT02_KEYS, "01", "sat", 0, None) != derive_keyset_id(
        NUT02_KEYS, "01", "sat", 100, None
    )


# --- NUT-13 -------------------------------------------------------------------------------

MNEMONIC = "half depart obvious quality work element tank gorilla view sugar picture humble"


def test_keyset_id_int_vectors() -> None:
    assert keyset_id_int("009a1f293253e41e") == 864559728
    v2 = "01adc013fa9d85171586660abab27579888611659d357bc86bc09cb26eee8bc035"
    assert keyset_id_int(v2) == 2113471806


def test_nut13_v1_bip32_vectors() -> None:
    deriver = SecretDeriver(Mnemonic.to_seed(MNEMONIC))
    secrets = [
        "485875df74771877439ac06339e284c3acfcd9be7abf3bc20b516faeadfe77ae",
        "8f2b39e8e594a4056eb1e6dbb4b0c38ef13b1b2c751f64f810ec04ee35b77270",
        "bc628c79accd2364fd31511216a0fab62afd4a18ff77a20deded7b858c9860c8",
        "59284fd1650ea9fa17db2b3acf59ecd0f2d52ec3261dd4152785813ff27a33bf",
        "576c23393a8b31cc8da6688d9c9a96394ec74b40fdaf1f693a6bb84284334ea0",
    ]
    rs = [
        "ad00d431add9c673e843d4c2bf9a778a5f402b985b8da2d5550bf39cda41d679",
        "967d5232515e10b81ff226ecf5a9e2e2aff92d66ebc3edf0987eb56357fd6248",
        "b20f47bb6ae083659f3aa986bfa0435c55c6d93f687d51a01f26862d9b9a4899",
        "fb5fca398eb0b1deb955a2988b5ac77d32956155f1c002a373535211a2dfdc29",
        "5f09bfbfe27c439a597719321e061e2e40aad4a36768bb2bcc3de547c9644bf9",
    ]
    for counter in range(5):
        secret, r = deriver.derive("009a1f293253e41e", counter)
        assert (secret, r.hex()) == (secrets[counter], rs[counter])


def test_nut13_v2_hmac_vectors() -> None:
    deriver = SecretDeriver(Mnemonic.to_seed(MNEMONIC))
    kid = "015ba18a8adcd02e715a58358eb618da4a4b3791151a4bee5e968bb88406ccf76a"
    secrets = [
        "db5561a07a6e6490f8dadeef5be4e92f7cebaecf2f245356b5b2a4ec40687298",
        "b70e7b10683da3bf1cdf0411206f8180c463faa16014663f39f2529b2fda922e",
        "78a7ac32ccecc6b83311c6081b89d84bb4128f5a0d0c5e1af081f301c7a513f5",
        "094a2b6c63bfa7970bc09cda0e1cfc9cd3d7c619b8e98fabcfc60aea9e4963e5",
        "5e89fc5d30d0bf307ddf0a3ac34aa7a8ee3702169dafa3d3fe1d0cae70ecd5ef",
    ]
    rs = [
        "6d26181a3695e32e9f88b80f039ba1ae2ab5a200ad4ce9dbc72c6d3769f2b035",
        "bde4354cee75545bea1a2eee035a34f2d524cee2bb01613823636e998386952e",
        "f40cc1218f085b395c8e1e5aaa25dccc851be3c6c7526a0f4e57108f12d6dac4",
        "099ed70fc2f7ac769bc20b2a75cb662e80779827b7cc358981318643030577d0",
        "5550337312d223ba62e3f75cfe2ab70477b046d98e3e71804eade3956c7b98cf",
    ]
    for counter in range(5):
        secret, r = deriver.derive(kid, counter)
        assert (secret, r.hex()) == (secrets[counter], rs[counter])


def test_unknown_keyset_version_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        SecretDeriver(os.urandom(64)).derive("02" + "00" * 32, 0)


# --- amounts ------------------------------------------------------------------------------


def test_split_and_fees() -> None:
    assert split_amount(0) == []
    assert split_amount(13) == [1, 4, 8]
    assert sum(split_amount(987654321)) == 987654321
    assert fee_for(0) == 0 and fee_for(1) == 1 and fee_for(1000) == 1 and fee_for(1001) == 2
    proofs = [{"id": "a", "amount": 1}] * 11
    assert input_fee(proofs, {"a": 100}) == 2
    assert send_target(12, 0) == 12
    assert send_target(12, 100) == 13  # 13 = 1+4+8: three proofs cost 1 sat to spend
    assert blank_outputs_count(0) == 0
    assert [blank_outputs_count(n) for n in (1, 2, 3, 4, 5, 1000)] == [1, 1, 2, 2, 3, 10]


def _proofs(*amounts: int, kid: str = "k") -> list[dict]:
    return [{"id": kid, "amount": a, "secret": f"s{i}", "C": ""} for i, a in enumerate(amounts)]


def test_selection() -> None:
    wallet = _proofs(64, 32, 4, 2, 1, 1)
    assert sorted(p["amount"] for p in select_exact(wallet, 38, {})) == [2, 4, 32]
    assert select_exact(wallet, 39, {}) is not None
    assert select_exact(_proofs(64, 32), 40, {}) is None
    # with fees: three inputs at 100 ppk cost 1 sat, so 4+2+1 pays a target of 6
    exact = select_exact(_proofs(4, 2, 1, 8), 6, {"k": 100})
    assert exact is not None and sum(p["amount"] for p in exact) == 7
    covering = select_covering(wallet, 40, {})
    assert covering is not None and [p["amount"] for p in covering] == [64]
    assert select_covering(wallet, 105, {}) is None
    assert select_covering(wallet, 104, {}) is not None
    assert select_covering(wallet, 104, {"k": 100}) is None  # 6 inputs cost 1 sat
