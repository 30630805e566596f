"""The function's configuration, from the environment the SAM template sets (no secrets)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class SettingsError(Exception):
    """A required environment variable is missing or malformed (a deploy mistake)."""


@dataclass(frozen=True)
class Settings:
    wallet_id: str
    watcher_pubkey: str
    state_bucket: str
    state_key: str
    table_name: str
    root_secret_id: str  # Secrets Manager name/ARN, or an SSM parameter name (see source)
    root_store: str  # "secretsmanager" | "ssm"
    idempotency_ttl_s: int = 3600

    @property
    def guard_item_id(self) -> str:
        """The generation guard's item in the idempotency table (never expires: no TTL
        attribute; Powertools' own items are `<function>.<name>#<hash>`)."""
        return f"nwc-signer#generation#{self.wallet_id}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def need(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise SettingsError(f"environment variable {name} is not set")
            return value

        pubkey = need("WATCHER_PUBKEY").lower()
        if len(pubkey) != 64 or any(c not in "0123456789abcdef" for c in pubkey):
            raise SettingsError("WATCHER_PUBKEY must be 64 hex characters (x-only pubkey)")
        if env.get("ROOT_SECRET_PARAMETER", "").strip():
            source, secret_id = "ssm", need("ROOT_SECRET_PARAMETER")
        else:
            source, secret_id = "secretsmanager", need("ROOT_SECRET_ID")
        ttl = env.get("IDEMPOTENCY_TTL_S", "3600")
        if not ttl.isdigit():
            raise SettingsError("IDEMPOTENCY_TTL_S must be a number of seconds")
        return cls(
            wallet_id=need("WALLET_ID"),
            watcher_pubkey=pubkey,
            state_bucket=need("STATE_BUCKET"),
            state_key=env.get("STATE_KEY", "").strip() or "wallet.sealed",
            table_name=need("TABLE_NAME"),
            root_secret_id=secret_id,
            root_store=source,
            idempotency_ttl_s=int(ttl),
        )
