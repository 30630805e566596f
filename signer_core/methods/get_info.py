"""get_info: who this wallet is and what this connection may do with it."""

from __future__ import annotations

from typing import Any

from signer_core.methods import MethodContext
from signer_core.protocol.nip47 import SUPPORTED_SCHEMES


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    info = ctx.wallet.get_info()
    return {
        "alias": str(info.get("alias", "nwc-signer")),
        "color": str(info.get("color", "#f7931a")),
        "pubkey": ctx.connection.service_pubkey,
        "network": str(info.get("network", "mainnet")),
        "block_height": int(info.get("block_height", 0)),
        "block_hash": str(info.get("block_hash", "")),
        "methods": ctx.available_methods(),
        "notifications": ctx.available_notifications(),
        # the info event's tags, as lists (NWC-02 clients read encryption from either)
        "encryption": list(SUPPORTED_SCHEMES),
        "extensions": ctx.available_extensions(),
        # the wallet's lightning address, once claimed (docs/lightning-address.md)
        **({"lud16": ctx.state.lightning_address} if ctx.state.lightning_address else {}),
    }
