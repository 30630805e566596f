"""revoke_connection (admin only): remove a connection and rotate the wallet's data key.

Admin connections, the caller included, are revoked from the command line only, so the
page cannot lock its owner out. A connection with a payment in flight is kept until that
payment is settled: its claim is finished under that connection (never lost, never paid
twice). Contract: docs/nwc-admin-methods.md.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from signer_core.admin import revoke_connection
from signer_core.methods import MethodContext
from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.protocol.models import _Params, parse_params


class RevokeConnectionParams(_Params):  # strict, extra fields ignored
    wallet_pubkey: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    id: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one_of(self) -> RevokeConnectionParams:
        if not self.wallet_pubkey and not self.id:
            raise ValueError("either wallet_pubkey or id is required")
        return self


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    p = parse_params(RevokeConnectionParams, params)
    wanted = p.wallet_pubkey.lower() if p.wallet_pubkey else None
    found = [
        c
        for c in ctx.state.connections.values()
        if (wanted is None or c.service_pubkey == wanted) and (p.id is None or c.id == p.id)
    ]
    if len(found) != 1:
        raise NwcError(ErrorCode.NOT_FOUND, "no connection of this wallet matches")
    conn = found[0]
    if conn.admin:
        raise NwcError(ErrorCode.RESTRICTED, "admin connections are revoked from the command "
                       "line (nwc-signer connection revoke), never over NWC")  # fmt: skip
    in_flight = [
        e for e in ctx.state.ledger.values() if e.connection_id == conn.id and e.status == "claimed"
    ]
    if in_flight:
        raise NwcError(ErrorCode.OTHER, "a payment of this connection is still in flight; "
                       "try again in a minute")  # fmt: skip
    revoke_connection(ctx.state, conn.id)
    ctx.rotate_key = True
    assert ctx.entry is not None, "the pipeline gives every ledgered request an entry"
    ctx.entry.connection_change = {"revoked": conn.service_pubkey}
    return {"revoked": True, "id": conn.id, "wallet_pubkey": conn.service_pubkey}
