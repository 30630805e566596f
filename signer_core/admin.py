"""Wallet administration on the opened state: create, add and revoke connections.

Pure state operations; the caller (CLI, deploy tooling, the NWC admin methods) opens and
commits the state. A connection's client secret is generated here, handed back once for
the URI and never stored: the signer keeps only the client's public key. Over NWC
(`create_connection`) the client brings its own public key and the secret never reaches
the signer at all.
"""

from __future__ import annotations

import secrets as _secrets
from typing import Any

from signer_core.crypto.secp import generate_private_key, xonly_pubkey
from signer_core.methods import GRANTABLE_METHODS
from signer_core.protocol.uri import ConnectionUri
from signer_core.state import RENEWALS, Budget, Connection, Renewal, WalletState
from signer_core.vault.keys import service_pubkey

GRANTABLE = (*GRANTABLE_METHODS, "notifications")


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
    admin: bool = False,
) -> tuple[Connection, ConnectionUri]:
    """A new connection with a fresh client secret, returned only inside its URI. An admin
    connection (`admin=True`, the home page's) may also manage connections over NWC."""
    if not relays:
        raise ValueError("a connection needs at least one relay")
    client_secret = generate_private_key()
    conn = new_connection(
        state,
        root_secret=root_secret,
        name=name,
        client_pubkey=xonly_pubkey(client_secret).hex(),
        now=now,
        methods=methods,
        budget_msat=budget_msat,
        renewal=renewal,
        expires_at=expires_at,
        admin=admin,
    )
    uri = ConnectionUri(conn.service_pubkey, list(relays), client_secret.hex(), lud16)
    return conn, uri


def new_connection(
    state: WalletState,
    *,
    root_secret: bytes,
    name: str,
    client_pubkey: str,
    now: int,
    methods: list[str] | None = None,
    budget_msat: int | None = None,
    renewal: Renewal = "monthly",
    expires_at: int | None = None,
    admin: bool = False,
) -> Connection:
    """Check the options and add a connection for a client pubkey; ValueError says why not."""
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
    if any(c.client_pubkey == client_pubkey for c in state.connections.values()):
        raise ValueError("a connection with this client pubkey already exists")
    connection_id = _secrets.token_hex(8)
    conn = Connection(
        id=connection_id,
        name=name.strip(),
        client_pubkey=client_pubkey,
        service_pubkey=service_pubkey(root_secret, connection_id),
        methods=list(dict.fromkeys(granted)),
        created_at=now,
        budget=Budget(budget_msat, renewal) if budget_msat is not None else None,
        expires_at=expires_at,
        admin=admin,
    )
    state.connections[connection_id] = conn
    return conn


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
