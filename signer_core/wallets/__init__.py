"""Wallet backends behind one small interface (see base.py); loaded lazily by name."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from signer_core.wallets.base import Wallet, WalletEnv

# backend kind -> "module:factory". Imported only when a wallet of that kind is opened,
# so a Cashu request never pays for the Spark SDK and the other way round.
BACKENDS: dict[str, str] = {
    "cashu": "signer_core.wallets.cashu.wallet:CashuWallet",
    "spark": "signer_core.wallets.spark.wallet:SparkWallet",
}


def open_wallet(kind: str, data: dict[str, Any], env: WalletEnv) -> Wallet:
    """Build the wallet of `kind` over its (mutable) slice of the sealed state."""
    try:
        target = BACKENDS[kind]
    except KeyError:
        raise ValueError(f"unknown wallet backend {kind!r}") from None
    module_name, _, attr = target.partition(":")
    factory = getattr(import_module(module_name), attr)
    wallet: Wallet = factory(data, env)
    return wallet
