"""`functions/deno/main.ts`: the Deno entry (Pyodide behind Deno.serve) in the npm `deno`
binary, over a real Deno KV (SQLite, in the work folder), served over real HTTP — the host
`nwc-signer dev --runtime deno` runs (nwc_signer/dev/deno.py).

The host's test-only `/__admin/` routes answer as the Cloudflare host's do (state, guard,
faults), so the target is the Cloudflare one with the Deno host behind it: the wallet is
made on CPython in a local folder, its sealed blob put into the instance's KV, `add_app`
pulls, adds the connection and pushes back; store faults are injected at the entry's KV
binding in Deno (main.ts faultyKv), in Deno KV's own failure shapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from nwc_signer.dev.deno import DenoHost, host_missing
from signer_core.stores.deno_kv import DenoKvStore
from tests.conformance.adapters.cloudflare import CloudflareTarget
from tests.nwc import LocalWallet


class DenoTarget(CloudflareTarget):
    store_class = DenoKvStore


@contextmanager
def open_target(workdir: Path, mint_url: str) -> Iterator[DenoTarget]:
    missing = host_missing()
    if missing:
        pytest.skip(f"the Deno host is not installed: {missing}")
    wallet = LocalWallet.create(workdir / "wallet", mint_url)
    with ExitStack() as stack:
        host = stack.enter_context(DenoHost(wallet.path, workdir / "deno"))
        http = stack.enter_context(httpx.Client(timeout=120))
        target = DenoTarget(wallet, host.url, http)
        target.mirror.push()
        yield target
