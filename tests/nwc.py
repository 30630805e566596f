"""Test helpers over nwc_signer.harness that register every secret they create, so the
last test can search the whole run's logs for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nwc_signer.dev import harness
from nwc_signer.dev.harness import run_cli  # noqa: F401 (re-exported for tests)
from nwc_signer.dev.nwc_app import NwcApp
from signer_core.protocol.uri import parse_uri

# Every secret a test creates is registered here; conftest searches captured logs for them.
SECRETS_SEEN: set[str] = set()


def remember_secret(value: str | bytes) -> None:
    SECRETS_SEEN.add(value.hex() if isinstance(value, bytes) else value)


class App(NwcApp):
    """An NWC app whose connection secret is registered for the log check."""

    @classmethod
    def from_uri(cls, text: str, encryption: str | None = "nip44_v2") -> App:
        uri = parse_uri(text)
        remember_secret(uri.secret)
        return cls(uri, bytes.fromhex(uri.secret), encryption)

    @classmethod
    def stranger(cls, service_pubkey: str) -> App:
        other = NwcApp.stranger(service_pubkey)
        return cls(other.uri, other.secret)


class LocalWallet(harness.LocalWallet):
    """The harness's wallet folder, registering its secrets for the log check."""

    @classmethod
    def create(cls, path: Path, mint_url: str) -> LocalWallet:
        made = harness.LocalWallet.create(path, mint_url)
        remember_secret(made.mnemonic)
        remember_secret((path / "secrets" / "root.key").read_text().strip())
        remember_secret(made.watcher_secret)
        wallet = cls(made.path, made.watcher_secret, made.mnemonic)
        wallet.remember_keys()
        return wallet

    def remember_keys(self) -> None:
        """Register the seed and the current data key too (they live only in memory)."""
        from functions.local.datadir import DataDir
        from signer_core.vault import sealed

        folder = DataDir(self.path)
        found = folder.store().read()
        assert found is not None
        opened = sealed.open_with_admin(
            sealed.parse(found[0]),
            root_secret=folder.secrets().root_secret,
            expected_wallet_id=folder.config().wallet_id,
            min_generation=0,
        )
        remember_secret(opened.dek)
        remember_secret(opened.state["seed_hex"])

    def add_app(self, *extra: str, name: str = "app", encryption: str | None = "nip44_v2") -> App:
        return App.from_uri(self.connection_uri(*extra, name=name), encryption)

    def call(
        self, app: NwcApp, method: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        out = super().call(app, method, params)
        from signer_core.protocol.models import ResponseModel

        ResponseModel.model_validate(out)  # every reply the tests see matches the contract
        return out
