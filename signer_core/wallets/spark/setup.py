"""``wallet create --backend spark`` for a local data folder: API key file and first state.

The Breez API key is a deployment secret: on Lambda it comes from the platform's secret
store into ``WalletEnv.config["breez_api_key"]``; locally from ``$BREEZ_API_KEY`` or the
0600 file ``DIR/secrets/breez_api_key`` (written here from ``$BREEZ_API_KEY`` when set).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from signer_core.protocol.errors import NwcError
from signer_core.state import WalletState
from signer_core.wallets.spark.session import API_KEY_ENV

KEY_FILE = ("secrets", "breez_api_key")


class SetupError(Exception):
    """A user-facing failure of wallet creation (printed by the CLI)."""


def create_spark_data(data_dir: Path, state: WalletState, network: str, now: int) -> dict[str, Any]:
    """Fill ``state.backend_data`` (derived offline) and return the folder's wallet_config."""
    from signer_core.wallets.spark.wallet import SparkWallet

    key_path = data_dir.joinpath(*KEY_FILE).resolve()
    config: dict[str, Any] = {"breez_api_key_file": str(key_path)}
    key = os.environ.get(API_KEY_ENV, "").strip()
    if network == "mainnet" and not key and not key_path.is_file():
        raise SetupError(f"a mainnet Spark wallet needs a Breez API key: set ${API_KEY_ENV}")
    try:
        state.backend_data = SparkWallet.create_data(
            network, mnemonic=state.mnemonic, config=config, now=now
        )
    except NwcError as exc:
        raise SetupError(exc.message) from None
    if key and not key_path.exists():
        key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
    return config
