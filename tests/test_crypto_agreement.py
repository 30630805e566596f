"""The native and pure backends agree byte for byte, and refuse the same tampered inputs.

Random keys, messages and aux (hypothesis) -> identical signatures, x-only keys, ECDH, points;
the pure ciphers against pycryptodome; NIP-44/NIP-04 payloads and the vault across backends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from Crypto.Cipher import AES, ChaCha20
from hypothesis import given, settings
from hypothesis import strategies as st

from signer_core.crypto import _native_ciphers as native_ciphers
from signer_core.crypto import _native_secp as native
from signer_core.crypto import backend, ec, nip04, nip44
from signer_core.crypto.backend import GX, GY, InvalidKey, N, P, Point
from signer_core.crypto.pure import ciphers as pure_ciphers
from signer_core.crypto.pure import secp256k1 as pure

SETTINGS = settings(max_examples=40, deadline=None)
secrets = st.integers(min_value=1, max_value=N - 1).map(lambda k: k.to_bytes(32, "big"))
bytes32 = st.binary(min_size=32, max_size=32)


@pytest.fixture
def switch() -> Iterator[None]:
    yield
    backend.use(None)


def _flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index % len(out)] ^= 1 << (index % 8)
    return bytes(out)


# --- secp256k1 ------------------------------------------------------------------------------


@SETTINGS
@given(secret=secrets, msg=bytes32, aux=bytes32, flip=st.integers(0, 127))
def test_sign_verify_agree_and_refuse_tampering(
    secret: bytes, msg: bytes, aux: bytes, flip: int
) -> None:
    pub = native.xonly_pubkey(secret)
    assert pure.xonly_pubkey(secret) == pub
    sig = native.schnorr_sign(msg, secret, aux)
    assert pure.schnorr_sign(msg, secret, aux) == sig
    for impl in (native, pure):
        assert impl.schnorr_verify(msg, sig, pub)
        assert not impl.schnorr_verify(_flip(msg, flip), sig, pub)
        assert not impl.schnorr_verify(msg, _flip(sig, flip), pub)
        assert impl.schnorr_verify(msg, sig, _flip(pub, flip)) is native.schnorr_verify(
            msg, sig, _flip(pub, flip)
        )


@SETTINGS
@given(a=secrets, b=secrets)
def test_ecdh_agrees_and_is_symmetric(a: bytes, b: bytes) -> None:
    shared = native.ecdh_x(a, native.xonly_pubkey(b))
    assert pure.ecdh_x(a, pure.xonly_pubkey(b)) == shared
    assert pure.ecdh_x(b, pure.xonly_pubkey(a)) == shared


@SETTINGS
@given(x=bytes32)
def test_lift_x_agrees_on_any_32_bytes(x: bytes) -> None:
    try:
        expected: Point | None = native.lift_x(x)
    except InvalidKey:
        expected = None
    if expected is None:
        with pytest.raises(InvalidKey):
            pure.lift_x(x)
        with pytest.raises(InvalidKey):
            pure.ecdh_x(b"\x01" * 32, x)
    else:
        assert pure.lift_x(x) == expected
        assert expected.has_even_y


@pytest.mark.parametrize(
    "secret", [bytes(32), N.to_bytes(32, "big"), (N + 1).to_bytes(32, "big"), b"\x01" * 31]
)
def test_bad_secrets_refused_by_both(secret: bytes) -> None:
    pub = native.xonly_pubkey(b"\x01" * 32)
    for impl in (native, pure):
        with pytest.raises(InvalidKey):
            impl.xonly_pubkey(secret)
        with pytest.raises(InvalidKey):
            impl.ecdh_x(secret, pub)
        with pytest.raises(InvalidKey):
            impl.schnorr_sign(bytes(32), secret, bytes(32))
        with pytest.raises(InvalidKey):
            impl.point_mul_g(secret)


@pytest.mark.parametrize("x", [P, P + 1, 2**256 - 1])
def test_x_at_or_above_the_field_size_refused_by_both(x: int) -> None:
    for impl in (native, pure):
        with pytest.raises(InvalidKey):
            impl.lift_x(x.to_bytes(32, "big"))
        with pytest.raises(InvalidKey):
            impl.point_parse(b"\x02" + x.to_bytes(32, "big"))


# --- the point API -----------------------------------------------------------------------------


@SETTINGS
@given(prefix=st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7]), body=st.binary(min_size=32, max_size=64))
def test_parse_agrees_on_random_encodings(prefix: int, body: bytes) -> None:
    data = bytes([prefix]) + body
    try:
        expected: Point | None = native.point_parse(data)
    except InvalidKey:
        expected = None
    try:
        got: Point | None = pure.point_parse(data)
    except InvalidKey:
        got = None
    assert got == expected


@SETTINGS
@given(a=secrets, b=secrets, k=secrets)
def test_point_ops_agree(a: bytes, b: bytes, k: bytes) -> None:
    pa, pb = native.point_mul_g(a), native.point_mul_g(b)
    assert pure.point_mul_g(a) == pa
    assert pure.point_add(pa, pb) == native.point_add(pa, pb)
    assert pure.point_mul(pa, k) == native.point_mul(pa, k)
    # the encodings both backends parse back to the same point; hybrid 06/07 too
    hybrid = bytes([6 | (pa.y & 1)]) + pa.uncompressed()[1:]
    for encoded in (pa.compressed(), pa.uncompressed(), hybrid):
        assert pure.point_parse(encoded) == native.point_parse(encoded) == pa
    # k*(a*G) == (k*a)*G
    ka = (int.from_bytes(k, "big") * int.from_bytes(a, "big") % N).to_bytes(32, "big")
    assert pure.point_mul(pa, k) == pure.point_mul_g(ka)


@pytest.mark.parametrize("name", ["native", "pure"])
def test_point_api_edge_cases(name: str, switch: None) -> None:
    backend.use(name)
    g = ec.GENERATOR
    assert ec.parse(g.compressed().hex()) == g
    assert g.negate().negate() == g
    assert ec.add(g, g) == ec.mul(g, (2).to_bytes(32, "big")) == ec.mul_g((2).to_bytes(32, "big"))
    assert ec.sub(ec.mul_g((3).to_bytes(32, "big")), g) == ec.mul_g((2).to_bytes(32, "big"))
    assert ec.mul_g((N - 1).to_bytes(32, "big")) == g.negate()
    with pytest.raises(InvalidKey):
        ec.add(g, g.negate())  # infinity
    with pytest.raises(InvalidKey):
        ec.sub(g, g)
    for bad in (bytes(32), N.to_bytes(32, "big"), b"\x01"):
        with pytest.raises(InvalidKey):
            ec.mul(g, bad)
    assert ec.try_parse(b"\x02" + bytes(32)) is None  # x = 0 is not on the curve
    assert not ec.is_on_curve(b"\x04" + g.uncompressed()[1:33] + bytes(32))
    bad_hybrid = bytes([7 - (g.y & 1)]) + g.uncompressed()[1:]  # wrong parity byte
    assert ec.try_parse(bad_hybrid) is None
    with pytest.raises(InvalidKey):
        ec.parse("zz")


def test_point_type_refuses_off_curve_values() -> None:
    with pytest.raises(InvalidKey):
        Point(GX, GY + 1)
    with pytest.raises(InvalidKey):
        Point(GX + P, GY)
    with pytest.raises(AttributeError):
        ec.GENERATOR.x = 1


# --- ciphers: pure against pycryptodome ---------------------------------------------------------

sizes = st.integers(min_value=0, max_value=3000)


@SETTINGS
@given(key=bytes32, nonce=st.binary(min_size=12, max_size=12), size=sizes)
def test_chacha20_matches_pycryptodome(key: bytes, nonce: bytes, size: int) -> None:
    data = os.urandom(size)
    expected = ChaCha20.new(key=key, nonce=nonce).encrypt(data)
    assert pure_ciphers.chacha20(key, nonce, data) == expected
    assert native_ciphers.chacha20(key, nonce, data) == expected


@SETTINGS
@given(key=bytes32, iv=st.binary(min_size=16, max_size=16), blocks=st.integers(0, 40))
def test_aes_cbc_matches_pycryptodome(key: bytes, iv: bytes, blocks: int) -> None:
    data = os.urandom(16 * blocks)
    expected = AES.new(key, AES.MODE_CBC, iv=iv).encrypt(data)
    assert pure_ciphers.aes_cbc_encrypt(key, iv, data) == expected
    assert pure_ciphers.aes_cbc_decrypt(key, iv, expected) == data
    assert pure_ciphers.aes_cbc_decrypt(key, iv, data) == AES.new(
        key, AES.MODE_CBC, iv=iv
    ).decrypt(data)


@SETTINGS
@given(
    key=bytes32,
    nonce=st.binary(min_size=12, max_size=12),
    size=st.one_of(st.integers(0, 300), st.integers(4000, 24000)),
    aad=st.binary(max_size=600),
    flip=st.integers(0, 10_000),
)
def test_aes_gcm_matches_pycryptodome_and_refuses_tampering(
    key: bytes, nonce: bytes, size: int, aad: bytes, flip: int
) -> None:
    data = os.urandom(size)
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=16)
    cipher.update(aad)
    ct, tag = cipher.encrypt_and_digest(data)
    sealed = ct + tag
    assert pure_ciphers.aes_gcm_encrypt(key, nonce, data, aad) == sealed
    assert native_ciphers.aes_gcm_encrypt(key, nonce, data, aad) == sealed
    for impl in (pure_ciphers, native_ciphers):
        assert impl.aes_gcm_decrypt(key, nonce, sealed, aad) == data
        assert impl.aes_gcm_decrypt(key, nonce, _flip(sealed, flip), aad) is None
        assert impl.aes_gcm_decrypt(key, nonce, sealed, aad + b"x") is None
        assert impl.aes_gcm_decrypt(_flip(key, flip), nonce, sealed, aad) is None
        assert impl.aes_gcm_decrypt(key, nonce, sealed[:15], aad) is None


# --- protocols across backends ------------------------------------------------------------------


@SETTINGS
@given(a=secrets, b=secrets, nonce=bytes32, text=st.text(min_size=1, max_size=400))
def test_nip44_payloads_identical_across_backends(
    a: bytes, b: bytes, nonce: bytes, text: str
) -> None:
    try:
        payloads = {}
        for name in ("native", "pure"):
            backend.use(name)
            key = nip44.get_conversation_key(a, pure.xonly_pubkey(b))
            payloads[name] = (key, nip44.encrypt(text, key, nonce))
        assert payloads["native"] == payloads["pure"]
        key, payload = payloads["pure"]
        tampered = payload[:-3] + ("A" if payload[-3] != "A" else "B") + payload[-2:]
        for name in ("native", "pure"):
            backend.use(name)
            assert nip44.decrypt(payload, key) == text
            with pytest.raises(nip44.Nip44Error):
                nip44.decrypt(tampered, key)
    finally:
        backend.use(None)


@SETTINGS
@given(a=secrets, b=secrets, iv=st.binary(min_size=16, max_size=16), text=st.text(max_size=300))
def test_nip04_payloads_identical_across_backends(a: bytes, b: bytes, iv: bytes, text: str) -> None:
    try:
        out = {}
        for name in ("native", "pure"):
            backend.use(name)
            out[name] = nip04.encrypt(text, a, pure.xonly_pubkey(b), iv=iv)
        assert out["native"] == out["pure"]
        for name in ("native", "pure"):
            backend.use(name)
            assert nip04.decrypt(out["native"], b, pure.xonly_pubkey(a)) == text
    finally:
        backend.use(None)
