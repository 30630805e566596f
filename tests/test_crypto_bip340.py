"""Both secp256k1 backends against the official BIP-340 vectors (bips/bip-0340/test-vectors.csv).

The fixture is the published file byte for byte (CRLF line ends, 19 rows, indices 0-18); its
hash is checked so an edited copy cannot pass. Rows 15-18 sign messages that are not 32 bytes:
the backends take any length, the public ``secp`` API keeps Nostr's 32-byte ids.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from signer_core.crypto import backend, secp
from signer_core.crypto._protocols import SecpBackend

FIXTURE = Path(__file__).parent / "fixtures" / "bip340_vectors.csv"
# sha256 of bip-0340/test-vectors.csv as published (with its CRLF line ends)
PUBLISHED_SHA256 = "34c9d1d9c3a88d524bc80778540dc43f8306ec249a7485293063c376db851c2d"
RAW = FIXTURE.read_bytes()
ROWS = list(csv.DictReader(io.StringIO(RAW.decode("ascii"), newline="")))


@pytest.fixture(params=["native", "pure"])
def impl(request: pytest.FixtureRequest) -> Iterator[SecpBackend]:
    backend.use(request.param)
    try:
        chosen = backend.secp()
        assert request.param == chosen.NAME
        yield chosen
    finally:
        backend.use(None)


def test_fixture_is_the_published_file() -> None:
    assert hashlib.sha256(RAW).hexdigest() == PUBLISHED_SHA256
    assert [int(r["index"]) for r in ROWS] == list(range(19))


@pytest.mark.parametrize("row", ROWS, ids=[r["index"] for r in ROWS])
def test_vector(impl: SecpBackend, row: dict[str, str]) -> None:
    pub = bytes.fromhex(row["public key"])
    msg = bytes.fromhex(row["message"])
    sig = bytes.fromhex(row["signature"])
    expected = row["verification result"] == "TRUE"
    if row["secret key"]:
        secret = bytes.fromhex(row["secret key"])
        assert impl.xonly_pubkey(secret) == pub
        assert impl.schnorr_sign(msg, secret, bytes.fromhex(row["aux_rand"])) == sig
    assert impl.schnorr_verify(msg, sig, pub) is expected


@pytest.mark.parametrize("row", [r for r in ROWS if len(r["message"]) == 64])
def test_public_api_on_32_byte_vectors(impl: SecpBackend, row: dict[str, str]) -> None:
    msg = bytes.fromhex(row["message"])
    sig = bytes.fromhex(row["signature"])
    pub = bytes.fromhex(row["public key"])
    assert secp.schnorr_verify(msg, sig, pub) is (row["verification result"] == "TRUE")
    if row["secret key"]:
        secret = bytes.fromhex(row["secret key"])
        assert secp.schnorr_sign(msg, secret, bytes.fromhex(row["aux_rand"])) == sig


def test_public_api_refuses_other_message_lengths(impl: SecpBackend) -> None:
    row = ROWS[16]  # a valid signature of a 1-byte message
    msg, sig = bytes.fromhex(row["message"]), bytes.fromhex(row["signature"])
    pub = bytes.fromhex(row["public key"])
    assert impl.schnorr_verify(msg, sig, pub)
    assert secp.schnorr_verify(msg, sig, pub) is False
    with pytest.raises(ValueError):
        secp.schnorr_sign(msg, bytes.fromhex(row["secret key"]), bytes(32))
