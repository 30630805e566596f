"""The proof that binds a connection's wallet-service key to one wallet (at a watcher).

A Schnorr signature by the service key over the wallet's registration pubkey. The wallet
sends it with each key it registers (`relay_watcher.registration`) and with each key it
adds over NWC (`WebhookResponse.keys`, docs/nwc-admin-methods.md), so nobody can claim, and
so hijack or silence, another wallet's connection keys, which are public in every 13194
info event. Here, in signer_core, because both the function and the watcher need it.
"""

from __future__ import annotations

import hashlib

from signer_core.crypto.secp import schnorr_sign, schnorr_verify

PROOF_DOMAIN = b"nwc-signer/register-key/v1"


def proof_digest(wallet_pubkey: str) -> bytes:
    return hashlib.sha256(PROOF_DOMAIN + b"\n" + wallet_pubkey.encode()).digest()


def service_key_proof(service_secret: bytes, wallet_pubkey: str) -> str:
    """The service key's signature binding it to one wallet (registration key)."""
    return schnorr_sign(proof_digest(wallet_pubkey), service_secret).hex()


def verify_service_key_proof(service_pubkey: str, proof: str, wallet_pubkey: str) -> bool:
    """Whether `proof` (128 hex) is the service key's signature over this wallet."""
    try:
        return schnorr_verify(
            proof_digest(wallet_pubkey), bytes.fromhex(proof), bytes.fromhex(service_pubkey)
        )
    except ValueError:
        return False
