"""The URL a Spark wallet gives Breez for webhooks: ``<watcher>/v1/hooks/spark/<wallet>/<token>``.

``wallet`` is the wallet's registration pubkey at the relay-watcher (x-only hex) and
``token`` a BIP-340 signature by its registration key (``signer_core.vault.keys.
registration_secret``) over SHA-256("nwc-signer/spark-hook/v1" \\n wallet). The watcher
checks it against the registered wallet with no table of its own, and nobody without the
key can make one, so strangers cannot wake a wallet. Deterministic (zero auxiliary
randomness): the same wallet always gets the same URL, so the function registers it once.

The webhook's own ``X-Spark-Signature`` (HMAC under a secret only the wallet knows) cannot
be checked by the watcher; it need not be: a hook only says "look now", and the wake-up it
causes trusts nothing but the wallet's own sync.
"""

from __future__ import annotations

import hashlib

from signer_core.crypto.secp import schnorr_sign, schnorr_verify, xonly_pubkey

DOMAIN = b"nwc-signer/spark-hook/v1"
PATH_PREFIX = "/v1/hooks/spark/"


def _digest(wallet_pubkey: str) -> bytes:
    return hashlib.sha256(DOMAIN + b"\n" + wallet_pubkey.encode()).digest()


def hook_token(registration_secret: bytes) -> tuple[str, str]:
    """(wallet pubkey, token) of the wallet with this registration key."""
    wallet = xonly_pubkey(registration_secret).hex()
    return wallet, schnorr_sign(_digest(wallet), registration_secret, aux=bytes(32)).hex()


def hook_url(watcher_url: str, registration_secret: bytes) -> str:
    """The value of the wallet config's ``spark_webhook_url``."""
    wallet, token = hook_token(registration_secret)
    return watcher_url.rstrip("/") + PATH_PREFIX + wallet + "/" + token


def verify_token(wallet_pubkey: str, token: str) -> bool:
    """Constant shape checks first; never raises on hostile input."""
    if len(wallet_pubkey) != 64 or len(token) != 128:
        return False
    try:
        return schnorr_verify(
            _digest(wallet_pubkey), bytes.fromhex(token), bytes.fromhex(wallet_pubkey)
        )
    except ValueError:
        return False
