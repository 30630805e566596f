"""The local function runtime: the pipeline behind a plain HTTP server (docs/webhook.md).

`LocalFunction(data_dir).handle(headers, body)` is what a cold request costs; the HTTP
server (`serve`) is imported only when serving, so benchmarks and `--cold` runs skip it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from functions.local.datadir import DataDir
from signer_core.pipeline import SignerConfig, WebhookRequest, WebhookResponse, handle_webhook


class LocalFunction:
    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.dir = DataDir(data_dir)
        cfg = self.dir.config()
        self.config = SignerConfig(
            wallet_id=cfg.wallet_id,
            watcher_pubkey=cfg.watcher_pubkey,
            wallet_config=cfg.wallet_config,
        )
        self.secrets = self.dir.secrets()
        self.store = self.dir.store()
        self.guard = self.dir.guard()

    def handle(self, headers: Mapping[str, str], body: bytes) -> WebhookResponse:
        return handle_webhook(
            WebhookRequest(headers, body),
            store=self.store,
            guard=self.guard,
            secrets=self.secrets,
            config=self.config,
        )
