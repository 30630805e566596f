"""transfer_funds (admin only): move funds between the main balance and an isolated connection.

This signer's own method (Alby Hub funds isolated apps from its own UI, not over NWC).
`from` / `to` name a connection by id or wallet_pubkey; an absent side is the main balance.
No money moves at the backend: the amounts are shares of one wallet, kept in the sealed
state, so a transfer is one compare-and-swap. Ledgered: a re-delivered request gets the same
answer and moves nothing again. Rules: docs/isolated-connections.md.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from signer_core import isolation
from signer_core.methods import MethodContext
from signer_core.methods.create_connection import MAX_AMOUNT_MSAT
from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.protocol.models import _Params, parse_params
from signer_core.state import WalletState

CONNECTION_REF = r"^[0-9A-Za-z_-]{1,64}$"


class TransferFundsParams(_Params):  # strict, extra fields ignored
    amount: int = Field(gt=0, le=MAX_AMOUNT_MSAT)
    source: str | None = Field(default=None, alias="from", pattern=CONNECTION_REF)
    to: str | None = Field(default=None, pattern=CONNECTION_REF)

    @model_validator(mode="after")
    def _one_connection(self) -> TransferFundsParams:
        if not self.source and not self.to:
            raise ValueError("name the isolated connection in from or to (absent = main)")
        return self


def _find(state: WalletState, ref: str | None) -> str:
    """A connection id by id or wallet_pubkey; MAIN for an absent side."""
    if ref is None:
        return isolation.MAIN
    for conn in state.connections.values():
        if ref in (conn.id, conn.service_pubkey) or ref.lower() == conn.service_pubkey:
            return conn.id
    raise NwcError(ErrorCode.NOT_FOUND, "no connection of this wallet matches")


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    p = parse_params(TransferFundsParams, params)
    source, target = _find(ctx.state, p.source), _find(ctx.state, p.to)
    isolation.settle_incoming(ctx.state, ctx.wallet, ctx.now)
    isolation.transfer(
        ctx.state,
        source=source,
        target=target,
        amount_msat=p.amount,
        backend_msat=ctx.wallet.get_balance_msat(),
        request_id=ctx.request_id,
        now=ctx.now,
    )
    result: dict[str, Any] = {"amount": p.amount}
    for side, cid in (("from", source), ("to", target)):
        conn = ctx.state.connections.get(cid)
        if conn is None:
            result[side] = {"main": True}
        else:
            balance = isolation.available_msat(ctx.state, conn)
            result[side] = {"id": conn.id, "wallet_pubkey": conn.service_pubkey, "balance": balance}
    return result
