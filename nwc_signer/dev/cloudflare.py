"""The Cloudflare side of a local stack: `functions/cloudflare/worker.py` in Pyodide on Node
(`pyodide_host.mjs serve`), over miniflare's R2 (state) and D1 (rollback guard), offline.

`nwc-signer dev --runtime cloudflare` and the tests use it. As with the Lambda runtime, the
wallet is made in a local folder and the Worker's bucket is seeded from it; in dev a small
proxy in front of the host keeps the folder and the bucket on the newest generation
(nwc_signer/dev/mirror.py), so `connection add` in another terminal reaches the Worker.
The host's `/__admin/` routes (state object, guard) exist only with `--admin`, on loopback.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from nwc_signer.dev.mirror import mirrored_proxy
from nwc_signer.dev.process import REPO_ROOT, Supervised, Supervisor, free_port, http_probe

HOST_DIR = REPO_ROOT / "functions" / "cloudflare"
NODE = HOST_DIR / "node_modules" / ".bin" / "node"
VENDORED = REPO_ROOT / ".venv-pyodide" / "python_modules"


def host_missing() -> str | None:
    """Why the Pyodide host cannot start here (None when it can)."""
    if not NODE.exists():
        return f"{NODE} is missing: run `bash scripts/bootstrap.sh` (npm ci in {HOST_DIR})"
    if not (VENDORED / "httpx").exists() or not (VENDORED / "pydantic").exists():
        return f"{VENDORED} is incomplete: run `bash scripts/bootstrap.sh`"
    return None


class PyodideWorkerHost(Supervised):
    """`node pyodide_host.mjs serve`: the Worker of one wallet folder (its root secret,
    watcher key and wallet id as the Worker's secret and variables), on 127.0.0.1:port."""

    def __init__(
        self,
        data_dir: Path,
        persist: Path,
        *,
        port: int = 0,
        cold: bool = False,
        settings: dict[str, str] | None = None,
    ) -> None:
        from functions.local.datadir import DataDir

        self.folder = DataDir(data_dir)
        self.persist = persist
        self.port = port or free_port()
        self.cold = cold
        self.settings = settings or {}  # NWC_* overrides (tests: a Worker not configured)
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> PyodideWorkerHost:
        missing = host_missing()
        if missing:
            raise RuntimeError(f"the Cloudflare runtime is not installed: {missing}")
        cfg = self.folder.config()
        env = {
            **os.environ,
            "NWC_ROOT_SECRET": self.folder.secrets().root_secret.hex(),
            "NWC_WATCHER_PUBKEY": cfg.watcher_pubkey,
            "NWC_WALLET_ID": cfg.wallet_id,
            **self.settings,
        }
        argv = [str(NODE), "--experimental-wasm-jspi", "pyodide_host.mjs", "serve",
                "--port", str(self.port), "--persist", str(self.persist), "--admin"]  # fmt: skip
        if self.cold:
            argv.append("--cold")
        self._child = Supervisor(
            "Pyodide Worker host", argv, ready=http_probe(self.url + "/health"),
            log_path=self.persist / "host.log", env=env, cwd=HOST_DIR, start_timeout=120,
        )  # fmt: skip
        self._child.start()
        return self

    def __enter__(self) -> PyodideWorkerHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def cloudflare_runtime(data_dir: Path, port: int, cold: bool = False) -> Iterator[str]:
    """`nwc-signer dev --runtime cloudflare`: the Worker in Pyodide behind a proxy on
    127.0.0.1:port that mirrors the wallet folder. `cold` loads a fresh Pyodide (a new
    isolate) for every request. Yields the URL the watcher posts to. miniflare's files and
    the host's log are kept in `data_dir/cloudflare/`."""
    persist = Path(data_dir) / "cloudflare"
    with (
        PyodideWorkerHost(data_dir, persist, cold=cold) as host,
        mirrored_proxy(host.url, data_dir, port) as url,
    ):
        yield url
