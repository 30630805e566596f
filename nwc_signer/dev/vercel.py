"""The Vercel side of a local stack: `api/webhook.py` loaded the way Vercel's Python runtime
loads it, in its own interpreter, over the fake Blob API (nwc_signer/dev/vercel_blob_api.py).

Vercel cannot be reached from here, and its loader (vercel-runtime's ``vc_init.py``) needs
Python >= 3.12 and the platform's IPC socket, so ``serve_project`` repeats what it does for a
``handler`` class (vc_init.py, vercel-runtime 0.17): import the entry file by path
(``spec_from_file_location``), take its top-level ``handler``, check it subclasses
``BaseHTTPRequestHandler``, serve ``class Handler(BaseHandler, handler)`` on a
``ThreadingHTTPServer`` where ``BaseHandler.handle_one_request`` reads the request line
(65,537 bytes at most), answers ``/_vercel/ping``, drops the ``x-vercel-internal-*``
headers and calls ``do_<METHOD>`` (501 through ``send_error`` when there is none).

The served folder is the deployed project's layout (docs/vercel.md), built by
``build_project``: ``api/webhook.py``, ``signer_core/``, ``requirements.txt``,
``vercel.json``; the child runs with that folder first on ``sys.path``, as the runtime puts
the project root there. `nwc-signer dev --runtime vercel` puts the mirroring proxy of
nwc_signer/dev/mirror.py in front, with the wallet folder mirrored into the fake store.
"""

from __future__ import annotations

import argparse
import contextlib
import http
import importlib.util
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIR = REPO_ROOT / "functions" / "vercel"
ENTRY = "api/webhook.py"
PROJECT_FILES = (ENTRY, "requirements.txt", "vercel.json", ".python-version")
INTERNAL_HEADERS = (
    "x-vercel-internal-invocation-id",
    "x-vercel-internal-request-id",
    "x-vercel-internal-span-id",
    "x-vercel-internal-trace-id",
)


def build_project(dest: Path) -> Path:
    """The deployed project's files in ``dest`` (replaced): the entry, its config files and
    the signer_core tree (``*.py`` only)."""
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    for name in PROJECT_FILES:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FUNCTION_DIR / name, target)
    shutil.copytree(
        REPO_ROOT / "signer_core",
        dest / "signer_core",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return dest


# --- the loader (what vc_init.py does for a `handler` class) ---------------------------


def load_handler(project: Path) -> type[BaseHTTPRequestHandler]:
    """Import ``api/webhook.py`` by path with the project root first on sys.path and
    return its ``handler`` class (SystemExit with vc_init's reason otherwise)."""
    root = str(Path(project).resolve())
    if sys.path[:1] != [root]:
        sys.path.insert(0, root)
    path = Path(root) / ENTRY
    spec = importlib.util.spec_from_file_location("api.webhook", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f'could not load module spec for "api.webhook" at {path}')
    module = importlib.util.module_from_spec(spec)
    sys.modules["api.webhook"] = module
    spec.loader.exec_module(module)
    app = getattr(module, "handler", None)
    if not (isinstance(app, type) and issubclass(app, BaseHTTPRequestHandler)):
        raise SystemExit(f'missing variable "handler" in file "{ENTRY}" (or not a handler class)')
    return app


class VercelBaseHandler(BaseHTTPRequestHandler):
    """vc_init.py's ``BaseHandler``: the request line and headers, then ``handle_request``."""

    def handle_one_request(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline:
            self.close_connection = True
            return
        if not self.parse_request():
            return
        if self.path.split("?", 1)[0] == "/_vercel/ping":
            self.send_response(200)
            self.end_headers()
            return
        for name in INTERNAL_HEADERS:
            del self.headers[name]
        self.handle_request()

    def handle_request(self) -> None:
        method = getattr(self, "do_" + self.command, None)
        if method is None:
            self.send_error(
                http.HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r})"
            )
            return
        method()
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        sys.stdout.write(f"{self.address_string()} - - {format % args}\n")


def make_server(project: Path, host: str, port: int) -> ThreadingHTTPServer:
    app = load_handler(project)
    handler = type("Handler", (VercelBaseHandler, app), {})
    return ThreadingHTTPServer((host, port), handler)


def main(argv: list[str] | None = None) -> None:
    """``python -m nwc_signer.dev.vercel --project DIR --port N``: serve until killed."""
    parser = argparse.ArgumentParser(prog="nwc_signer.dev.vercel")
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = make_server(args.project, args.host, args.port)
    print(f"serving {args.project / ENTRY} on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


# --- the host: the project in a child interpreter, over the fake Blob API ---------------


def state_pathnames(wallet_id: str) -> tuple[str, str]:
    """The wallet's two blobs in the store (docs/vercel.md): sealed state, rollback guard."""
    return f"nwc-signer/{wallet_id}/wallet.sealed", f"nwc-signer/{wallet_id}/generation"


class VercelHost:
    """One wallet folder's function: a built project served by ``main`` in a child
    interpreter on 127.0.0.1:port, its state in a ``BlobApiFake`` started here."""

    def __init__(self, data_dir: Path, workdir: Path, *, port: int = 0) -> None:
        from functions.local.datadir import DataDir
        from nwc_signer.dev.process import free_port
        from nwc_signer.dev.vercel_blob_api import BlobApiFake

        self.folder = DataDir(data_dir)
        self.data_dir = Path(data_dir)
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.fake = BlobApiFake()
        self.wallet_id = self.folder.config().wallet_id
        self.state_pathname, self.guard_pathname = state_pathnames(self.wallet_id)
        self._child: Any = None

    def blob_store(self, pathname: str) -> Any:
        from signer_core.stores.vercel_blob import VercelBlobStore

        return VercelBlobStore(
            self.fake.token, pathname, api_url=self.fake.api_url, store_url=self.fake.url
        )

    def stores(self) -> tuple[Any, Any]:
        """The function's (state store, guard), as it builds them, over the fake."""
        from signer_core.stores.vercel_blob import VercelBlobGuard

        return self.blob_store(self.state_pathname), VercelBlobGuard(
            self.blob_store(self.guard_pathname)
        )

    def mirror(self) -> Any:
        from nwc_signer.dev.mirror import FolderMirror

        store, guard = self.stores()
        return FolderMirror(self.data_dir, store, guard)

    def environment(self) -> dict[str, str]:
        cfg = self.folder.config()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        return {
            **env,
            "ROOT_SECRET": self.folder.secrets().root_secret.hex(),
            "WATCHER_PUBKEY": cfg.watcher_pubkey,
            "WALLET_ID": cfg.wallet_id,
            "BLOB_READ_WRITE_TOKEN": self.fake.token,
            "VERCEL_BLOB_API_URL": self.fake.api_url,
            "NWC_SIGNER_BLOB_STORE_URL": self.fake.url,
            "PYTHONDONTWRITEBYTECODE": "1",  # as Vercel sets it
        }

    def start(self) -> VercelHost:
        import httpx

        from nwc_signer.dev.process import Supervisor, http_probe

        self.fake.start()
        project = build_project(self.workdir / "project")
        argv = [sys.executable, "-m", "nwc_signer.dev.vercel", "--project", str(project),
                "--port", str(self.port)]  # fmt: skip

        def ok(res: httpx.Response) -> bool:
            return res.status_code == 200

        self._child = Supervisor(
            "Vercel function", argv, ready=http_probe(self.url + "/api/webhook", ok),
            log_path=self.workdir / "function.log", env=self.environment(), cwd=project,
        )  # fmt: skip
        try:
            self._child.start()
        except BaseException:
            self.fake.close()
            raise
        return self

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stop()
        self.fake.close()

    def __enter__(self) -> VercelHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def vercel_runtime(data_dir: Path, port: int, cold: bool = False) -> Iterator[str]:
    """`nwc-signer dev --runtime vercel`: the project served as Vercel's runtime serves it,
    behind a proxy on 127.0.0.1:port that mirrors the wallet folder into the fake Blob
    store. A Vercel instance stays warm between requests (``cold`` has no effect). Yields
    the URL the watcher posts to; the built project and the function's log are in
    ``data_dir/vercel/``."""
    import httpx

    from nwc_signer.dev.mirror import proxy_handler

    with VercelHost(data_dir, Path(data_dir) / "vercel") as host, httpx.Client(timeout=120) as c:
        mirror = host.mirror()
        mirror.push()
        server = ThreadingHTTPServer(("127.0.0.1", port), proxy_handler(host.url, mirror, c))
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
        thread.daemon = True
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/api/webhook"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)
            mirror.pull()


if __name__ == "__main__":
    main()
