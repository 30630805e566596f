"""create_connection (Alby's NWC extension, admin only): a new connection for a client key.

Follows Alby Hub's controller: the client brings the new connection's public key (its secret
is made and kept by the client: the home page, in the browser), the wallet answers with the
wallet-service pubkey of the connection. `isolated: true` makes a sub-wallet with a balance
of its own (docs/isolated-connections.md). Contract: docs/nwc-admin-methods.md.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from signer_core.admin import new_connection
from signer_core.crypto.secp import InvalidKey, lift_x
from signer_core.methods import ADMIN_METHODS, GRANTABLE_METHODS, SIGNER_METHODS, MethodContext
from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.protocol.models import _Params, parse_params
from signer_core.state import RENEWALS

MAX_CONNECTIONS = 100  # the sealed header holds one wrap each; the watcher takes 1000 keys
MAX_AMOUNT_MSAT = 21_000_000 * 100_000_000 * 1000


class CreateConnectionParams(_Params):  # strict, extra fields ignored
    pubkey: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    name: str = Field(min_length=1, max_length=100)
    request_methods: list[str] = Field(min_length=1, max_length=32)
    notification_types: list[str] = Field(default_factory=list, max_length=8)
    max_amount: int = Field(default=0, ge=0, le=MAX_AMOUNT_MSAT)
    budget_renewal: str = "monthly"
    expires_at: int | None = Field(default=None, gt=0)
    isolated: bool = False
    metadata: dict[str, Any] | None = None


def _bad(message: str) -> NwcError:
    return NwcError(ErrorCode.OTHER, f"invalid params: {message}")


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    p = parse_params(CreateConnectionParams, params)
    pubkey = p.pubkey.lower()
    try:
        lift_x(bytes.fromhex(pubkey))
    except (InvalidKey, ValueError):
        raise _bad("pubkey is not a valid x-only public key") from None
    if not p.name.strip() or not p.name.isprintable():
        raise _bad("name must be printable text")
    admin = sorted(set(p.request_methods) & ADMIN_METHODS)
    if admin:
        raise _bad(f"a connection made over NWC cannot manage connections ({', '.join(admin)})")
    served = (set(ctx.wallet.methods) | SIGNER_METHODS) & set(GRANTABLE_METHODS)
    unserved = sorted(set(p.request_methods) - served)
    if unserved:
        raise _bad(f"this wallet does not serve {', '.join(m[:40] for m in unserved)}; choose "
                   f"from {', '.join(m for m in GRANTABLE_METHODS if m in served)}")  # fmt: skip
    unknown = sorted(set(p.notification_types) - set(ctx.wallet.notifications))
    if unknown:
        raise _bad(f"this wallet does not send {', '.join(n[:40] for n in unknown)} "
                   "notifications")  # fmt: skip
    if p.budget_renewal not in RENEWALS:
        raise _bad(f"budget_renewal must be one of {', '.join(RENEWALS)}")
    if p.expires_at is not None and p.expires_at <= ctx.now:
        raise _bad("expires_at is in the past")
    if len(ctx.state.connections) >= MAX_CONNECTIONS:
        raise NwcError(ErrorCode.QUOTA_EXCEEDED, f"this wallet has {MAX_CONNECTIONS} "
                       "connections, the most it keeps; revoke one first")  # fmt: skip
    methods = list(p.request_methods) + (["notifications"] if p.notification_types else [])
    try:
        conn = new_connection(
            ctx.state,
            root_secret=ctx.root_secret,
            name=p.name,
            client_pubkey=pubkey,
            now=ctx.now,
            methods=methods,
            budget_msat=p.max_amount or None,
            renewal=p.budget_renewal,  # narrowed by the check above
            expires_at=p.expires_at,
        )
    except ValueError as exc:
        raise _bad(str(exc)) from None
    # a sub-wallet starts empty; transfer_funds moves main funds to it (and back)
    conn.isolated = p.isolated
    assert ctx.entry is not None, "the pipeline gives every ledgered request an entry"
    ctx.entry.connection_change = {"created": conn.id}
    return {"wallet_pubkey": conn.service_pubkey, "id": conn.id}
