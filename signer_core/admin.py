"""Wallet administration on the opened state: create, add and revoke connections.

Pure state operations; the caller (CLI, deploy tooling) opens and commits the state. A
connection's client secret is generated here, handed back once for the URI and never
stored: the signer keeps only the client's public key.
"""

from __future__ import annotations

import secrets as _secrets
from typing import Any

from signer_core.crypto.secp import generate_private_key, xonly_pubkey
from signer_core.methods import IMPLEMENTED
from signer_core.protocol.uri import ConnectionUri
from signer_core.state import RENEWALS, Budget, Connection, Renewal, WalletState
from signer_core.vault.keys import service_pubkey

GRANTABLE = (*IMPLEMENTED, "notifications")


def new_wallet_state(
    *, backend: str, backend_data: dict[str, Any], now: int, mnemonic: str | None = None
) -> WalletState:
    """A new wallet with a fresh BIP-39 mnemonic (or the given one, to restore)."""
    from mnemonic import Mnemonic

    words = Mnemonic("english")
    phrase = mnemonic or words.generate(strength=128)
    if not words.check(phrase):
        raise ValueError("the mnemonic is not a valid BIP-39 English phrase")
    return WalletState(
        wallet_id=_secrets.token_hex(8),
        created_at=now,
        backend=backend,
        mnemonic=phrase,
        seed_hex=Mnemonic.to_seed(phrase).hex(),
        backend_data=backend_data,
    )


def add_connection(
    state: WalletState,
    *,
    root_secret: bytes,
    name: str,
    relays: list[str],
    now: int,
    methods: list[str] | None = None,
    budget_msat: int | None = None,
    renewal: Renewal = "monthly",
    expires_at: int | None = None,
    lud16: str | None = None,
) -> tuple[Connection, ConnectionUri]:
    granted = list(methods) if methods is not None else list(GRANTABLE)
    unknown = sorted(set(granted) - set(GRANTABLE))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {', '.join(GRANTABLE)}")
    if renewal not in RENEWALS:
        raise ValueError(f"budget renewal must be one of {', '.join(RENEWALS)}")
    if budget_msat is not None and budget_msat <= 0:
        raise ValueError("the budget must be a positive amount")
    if expires_at is not None and expires_at <= now:
        raise ValueError("the expiry time is in the past")
    if not name.strip():
        raise ValueError("a connection needs a name")
    if not relays:
        raise ValueError("a connection needs at least one relay")
    connection_id = _secrets.token_hex(8)
    client_secret = generate_private_key()
    conn = Connection(
        id=connection_id,
        name=name.strip(),
        client_pubkey=xonly_pubkey(client_secret).hex(),
        service_pubkey=service_pubkey(root_secret, connection_id),
        methods=granted,
        created_at=now,
        budget=Budget(budget_msat, renewal) if budget_msat is not None else None,
        expires_at=expires_at,
    )
    state.connections[connection_id] = conn
    uri = ConnectionUri(conn.service_pubkey, list(relays), client_secret.hex(), lud16)
    return conn, uri


def find_connection(state: WalletState, key: str) -> Connection:
    """By id, name or wallet-service pubkey; raises KeyError with a clear message."""
    matches = [c for c in state.connections.values() if key in (c.id, c.name, c.service_pubkey)]
    if not matches:
        raise KeyError(f"no connection {key!r}")
    if len(matches) > 1:
        raise KeyError(f"{key!r} names several connections; use its id")
    return matches[0]


def revoke_connection(state: WalletState, key: str) -> Connection:
    """Remove a connection. The caller must commit with a NEW data key (rotation)."""
    conn = find_connection(state, key)
    del state.connections[conn.id]
    return conn
