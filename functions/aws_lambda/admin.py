"""Wallet administration on AWS with the owner's credentials (deploy CLI, dev stack, tests).

The function never creates wallets or connections: a connection URI carries a client
secret that must reach the owner only, so these run on the owner's machine and write the
sealed state straight into the stack's bucket, with the same core code the local CLI uses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from functions.aws_lambda.runtime import check_root_secret, parse_root_secret
from functions.aws_lambda.settings import Settings
from signer_core.session import Secrets, StateSession, create_wallet
from signer_core.stores.s3 import DynamoDBGenerationGuard, S3Store


@dataclass
class AwsWallet:
    settings: Settings
    session: Any  # boto3.session.Session with the owner's credentials

    def _secrets(self) -> Secrets:
        name = self.settings.root_secret_id
        if self.settings.root_store == "ssm":
            ssm = self.session.client("ssm")
            res = ssm.get_parameter(Name=name, WithDecryption=True)
            return Secrets(parse_root_secret(res["Parameter"]["Value"]))
        sm = self.session.client("secretsmanager")
        return Secrets(parse_root_secret(sm.get_secret_value(SecretId=name)["SecretString"]))

    def _stores(self) -> tuple[S3Store, DynamoDBGenerationGuard]:
        s = self.settings
        store = S3Store(s.state_bucket, s.state_key, client=self.session.client("s3"))
        guard = DynamoDBGenerationGuard(
            s.table_name, s.guard_item_id, client=self.session.client("dynamodb")
        )
        return store, guard

    def exists(self) -> bool:
        return self._stores()[0].read() is not None

    def create(self, backend: str, mint_url: str | None) -> str:
        """Seal a new wallet under the stack's wallet id; returns the recovery phrase."""
        from signer_core.admin import new_wallet_state

        if backend != "cashu":
            raise ValueError(f"backend {backend!r} is not available yet")
        if not mint_url:
            raise ValueError("a mint URL is required for the cashu backend")
        from signer_core.wallets.cashu.wallet import CashuWallet

        state = new_wallet_state(
            backend=backend, backend_data=CashuWallet.create_data(mint_url), now=int(time.time())
        )
        state = replace(state, wallet_id=self.settings.wallet_id)
        store, guard = self._stores()
        create_wallet(store, guard, self._secrets(), state)
        return state.mnemonic

    def open(self) -> StateSession:
        store, guard = self._stores()
        secrets = self._secrets()
        session = StateSession.read(store, guard, secrets, self.settings.wallet_id)
        found = store.read()
        if found is not None:
            check_root_secret(found[0], secrets.root_secret)
        session.open_as_admin()
        return session

    def add_connection(self, name: str, relays: list[str], **options: Any) -> str:
        """Add a connection; returns its nostr+walletconnect:// URI (print it, keep it)."""
        from signer_core.admin import add_connection

        session = self.open()
        assert session.state is not None
        _, uri = add_connection(
            session.state,
            root_secret=session.secrets.root_secret,
            name=name,
            relays=relays,
            now=int(time.time()),
            **options,
        )
        session.commit()
        return str(uri)
