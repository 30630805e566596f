"""The Deno side of a local stack: `functions/deno/main.ts` (Pyodide behind Deno.serve) in
the npm `deno` binary, over a real Deno KV (the binary's SQLite backend), offline.

`nwc-signer dev --runtime deno` and the tests use it. As with the Cloudflare runtime, the
wallet is made in a local folder and the instance's KV is seeded from it; a small proxy in
front of the host keeps the folder and the KV on the newest generation (FolderMirror). The
host's `/__admin/` routes answer like `pyodide_host.mjs`'s (same state/guard shapes), so the
mirroring proxy of nwc_signer/dev/mirror.py serves here unchanged; they
exist only with `--admin`, which main.ts refuses off loopback (nwc_signer/dev/mirror.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx

from nwc_signer.dev.mirror import mirrored_proxy
from nwc_signer.dev.process import REPO_ROOT, Supervised, Supervisor, free_port, http_probe

HOST_DIR = REPO_ROOT / "functions" / "deno"
DENO = HOST_DIR / "node_modules" / ".bin" / "deno"
VENDORED = REPO_ROOT / ".venv-pyodide" / "python_modules"


def host_missing() -> str | None:
    """Why the Deno host cannot start here (None when it can)."""
    failed = HOST_DIR / ".bootstrap-failed"
    if failed.exists():
        return f"scripts/bootstrap.sh could not install it: {failed.read_text().strip()}"
    if not DENO.exists() or not (HOST_DIR / "node_modules" / "pyodide").exists():
        return f"{DENO} is missing: run `bash scripts/bootstrap.sh` (npm ci in {HOST_DIR})"
    if not (VENDORED / "httpx").exists() or not (VENDORED / "pydantic").exists():
        return f"{VENDORED} is incomplete: run `bash scripts/bootstrap.sh`"
    return None


def host_argv(*extra: str) -> list[str]:
    """`deno run` of main.ts, offline: the project's own node_modules, nothing fetched."""
    return [str(DENO), "run", "-A", "--cached-only", "main.ts", *extra]


def _ok(res: httpx.Response) -> bool:
    return res.status_code == 200


class DenoHost(Supervised):
    """`deno run main.ts serve` for one wallet folder (its root secret, watcher key and
    wallet id as the instance's environment) on 127.0.0.1:port, its KV in `persist`."""

    def __init__(self, data_dir: Path, persist: Path, *, port: int = 0, cold: bool = False):
        from functions.local.datadir import DataDir

        self.folder = DataDir(data_dir)
        self.persist = Path(persist)
        self.port = port or free_port()
        self.cold = cold
        self.url = f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        cfg = self.folder.config()
        return {
            **os.environ,
            "ROOT_SECRET": self.folder.secrets().root_secret.hex(),
            "WATCHER_PUBKEY": cfg.watcher_pubkey,
            "WALLET_ID": cfg.wallet_id,
        }

    def start(self) -> DenoHost:
        missing = host_missing()
        if missing:
            raise RuntimeError(f"the Deno runtime is not installed: {missing}")
        self.persist.mkdir(parents=True, exist_ok=True)
        kv = str(self.persist / "kv.sqlite3")
        argv = host_argv("serve", "--hostname", "127.0.0.1", "--port", str(self.port),
                         "--kv", kv, "--offline", "--admin")  # fmt: skip
        if self.cold:
            argv.append("--cold")
        self._child = Supervisor(
            "Deno host", argv, ready=http_probe(self.url + "/health", _ok),
            log_path=self.persist / "host.log", env=self.environment(), cwd=HOST_DIR,
            start_timeout=120,
        )  # fmt: skip
        self._child.start()
        return self

    def __enter__(self) -> DenoHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def deno_runtime(data_dir: Path, port: int, cold: bool = False) -> Iterator[str]:
    """`nwc-signer dev --runtime deno`: main.ts in Deno behind a proxy on 127.0.0.1:port
    that mirrors the wallet folder. `cold` loads a fresh Pyodide for every request. Yields
    the URL the watcher posts to; the KV file and the host's log are in `data_dir/deno/`."""
    persist = Path(data_dir) / "deno"
    with (
        DenoHost(data_dir, persist, cold=cold) as host,
        mirrored_proxy(host.url, data_dir, port) as url,
    ):
        yield url
