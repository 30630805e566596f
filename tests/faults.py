"""Fault injection at real seams (the store interface, the httpx transport), with the real
local store and the real mint behind them. Imported by name by the pipeline's backend
registry, so it lives in its own module (one module object, one `armed` flag)."""

from __future__ import annotations

from typing import Any

import httpx

from signer_core.stores.base import StoreUnavailable
from signer_core.wallets.base import WalletEnv


class FlakyStore:
    """The real store, failing write number `fail_on` before or after it lands."""

    def __init__(self, inner, fail_on: int, when: str, hook=None) -> None:
        self.inner, self.fail_on, self.when, self.hook = inner, fail_on, when, hook
        self.writes = 0

    def read(self):
        return self.inner.read()

    def write(self, blob: bytes, expected_version: str | None) -> str:
        self.writes += 1
        if self.writes == self.fail_on:
            if self.hook is not None:
                self.hook()
                return self.inner.write(blob, expected_version)
            if self.when == "before":
                raise StoreUnavailable("injected outage before the write")
            self.inner.write(blob, expected_version)
            raise StoreUnavailable("injected outage after the write landed")
        return self.inner.write(blob, expected_version)


class LoseMeltAnswer(httpx.HTTPTransport):
    """Forwards to the real mint, but loses the answer to the melt (the mint DID act)."""

    armed = True

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if LoseMeltAnswer.armed and request.url.path == "/v1/melt/bolt11":
            LoseMeltAnswer.armed = False
            response.read()
            raise httpx.ReadTimeout("injected: the answer was lost", request=request)
        return response


def lossy_cashu(data: dict[str, Any], env: WalletEnv) -> Any:
    from signer_core.wallets.cashu.wallet import CashuWallet

    return CashuWallet(data, env, transport=LoseMeltAnswer())
