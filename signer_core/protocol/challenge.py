"""Registration challenge: the function proves it holds the wallet's registration key.

On a registration (a new wallet, or a changed function URL) the watcher sends a signed
`challenge` delivery with a random nonce to the function URL. The function answers with a
BIP-340 signature, by the wallet's registration key (`signer_core.vault.keys.
registration_secret`), over SHA-256 of a domain label, the nonce, the watcher's pubkey and
the function URL. So a wallet cannot point a watcher at a URL that is not its own function
(somebody else's function signs with another key; any other server cannot sign at all),
and an answer cannot be replayed to another watcher, URL or registration.
"""

from __future__ import annotations

import hashlib

from signer_core.crypto.secp import schnorr_sign, schnorr_verify

DOMAIN = b"nwc-signer/register-challenge/v1"


def challenge_digest(nonce: str, watcher_pubkey: str, function_url: str) -> bytes:
    parts = (DOMAIN, nonce.encode(), watcher_pubkey.encode(), function_url.encode())
    return hashlib.sha256(b"\n".join(parts)).digest()


def sign_challenge(
    registration_secret: bytes, nonce: str, watcher_pubkey: str, function_url: str
) -> str:
    """The function's answer (128 hex)."""
    digest = challenge_digest(nonce, watcher_pubkey, function_url)
    return schnorr_sign(digest, registration_secret).hex()


def verify_challenge(
    signature: str, wallet_pubkey: str, nonce: str, watcher_pubkey: str, function_url: str
) -> bool:
    try:
        return schnorr_verify(
            challenge_digest(nonce, watcher_pubkey, function_url),
            bytes.fromhex(signature),
            bytes.fromhex(wallet_pubkey),
        )
    except ValueError:
        return False
