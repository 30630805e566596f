"""`functions/aws_lambda`: the real handler, invoked with Function URL events, on moto."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from signer_core.protocol.webhook import WebhookResponse
from signer_core.stores.s3 import S3Store
from tests.nwc import App, remember_secret


class LambdaTarget:
    store_class = S3Store

    def __init__(self, wallet: Any) -> None:
        self.wallet = wallet
        self.watcher_secret: bytes = wallet.watcher_secret

    def post(self, headers: dict[str, str], body: bytes) -> WebhookResponse:
        response: WebhookResponse = self.wallet.post(headers, body)
        return response

    def add_app(self, name: str) -> App:
        app = self.wallet.add_app(name)
        remember_secret(app.secret)
        return App(app.uri, app.secret, "nip44_v2")

    def blob(self) -> bytes:
        env = self.wallet.stack.env
        s3 = self.wallet.stack.client("s3")
        body: bytes = s3.get_object(Bucket=env["STATE_BUCKET"], Key=env["STATE_KEY"])["Body"].read()
        return body


@contextmanager
def open_target(workdir: Path, mint_url: str) -> Iterator[LambdaTarget]:
    from functions.aws_lambda import handler
    from nwc_signer.dev import aws as devaws

    with devaws.moto_server() as endpoint:
        wallet = devaws.LambdaWallet.create(endpoint, mint_url)
        remember_secret(wallet.mnemonic)
        remember_secret(wallet.watcher_secret)
        remember_secret(wallet.root_secret_hex())
        try:
            yield LambdaTarget(wallet)
        finally:
            handler.reset()
