"""The onboarding service's Vercel world, all on loopback: the service (uvicorn on a
thread), the fake Vercel API with its Blob fake (tests/vercel_api.py), a relay, the test
mint, a relay-watcher process, and ``LocalVercel``: what the fake Vercel API deployed,
running.

How a deploy "lands in the local Vercel runtime": when the service registers the
production URL (``https://<project>.vercel.app/api/webhook``) with the watcher,
``LocalVercel.url_for`` takes the project's last READY production deployment, checks that
its files are byte for byte the files the service built with ``deploy vercel``'s bundle
(functions/vercel/'s entry files, signer_core/**.py), writes exactly those files to a
folder and serves it with ``python -m nwc_signer.dev.vercel`` (the function loaded as
Vercel's runtime loads it). Its environment is the deployment's own (ROOT_SECRET,
WALLET_ID, WATCHER_PUBKEY as the deploy set them, BLOB_READ_WRITE_TOKEN as connecting the
store set it), over the same Blob fake the deploy wrote the first state into. The function
that answers is the uploaded code, on the uploaded environment and state.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from nwc_signer.dev.process import Supervisor, free_port, http_probe
from tests.onboarding_stack import Records
from tests.vercel_api import FakeVercel


class ExpiringVercel(FakeVercel):
    """The fake API, able to expire the current token at one chosen request."""

    expire_on: str | None = None  # regex over "METHOD path"

    def route(
        self, method: str, path: str, query: dict[str, list[str]], raw: bytes,
        headers: dict[str, str],
    ) -> tuple[int, Any]:  # fmt: skip
        if self.expire_on and re.search(self.expire_on, f"{method} {path}"):
            self.expire_on = None
            self.token = "expired-" + secrets.token_hex(4)
            return 403, {"error": {"code": "forbidden", "invalidToken": True,
                                   "message": "The token has expired"}}  # fmt: skip
        return super().route(method, path, query, raw, headers)


class LocalVercel:
    """Deployed projects served by the local Vercel runtime, started on first use."""

    def __init__(self, fake: FakeVercel, folder: Path, bundle_dir: Path) -> None:
        self.fake, self.folder, self.bundle_dir = fake, folder, bundle_dir
        self.hosts: dict[str, tuple[Supervisor, str]] = {}
        self.lock = threading.Lock()

    def url_for(self, url: str) -> str:
        host = urlsplit(url).hostname or ""
        name = host.removesuffix(".vercel.app")
        with self.lock:
            if name not in self.hosts:
                self.hosts[name] = self._start(name)
            return self.hosts[name][1] + urlsplit(url).path

    def _start(self, name: str) -> tuple[Supervisor, str]:
        import httpx

        from deploy.vercel import bundle

        project = self.fake.projects[name]
        dep = next(d for d in reversed(project.deployments) if d.state == "READY")
        # the files the service built (other work may change the tree since: compare with
        # the build itself), and the entry as it is in functions/vercel/
        built = self.bundle_dir
        expected = {p.relative_to(built).as_posix(): p.read_bytes()
                    for p in built.rglob("*") if p.is_file()}  # fmt: skip
        assert dep.files == expected, "the deployment's files are not the service's build"
        entry = (bundle.ENTRY_DIR / bundle.ENTRYPOINT).read_bytes()
        assert dep.files[bundle.ENTRYPOINT] == entry
        served = self.folder / name / "project"
        for path, data in dep.files.items():
            (served / path).parent.mkdir(parents=True, exist_ok=True)
            (served / path).write_bytes(data)
        api_url, store_url = self.fake.blob_urls()
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env = {**inherited, **dep.env, "VERCEL_BLOB_API_URL": api_url,
               "NWC_SIGNER_BLOB_STORE_URL": store_url, "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "nwc_signer.dev.vercel", "--project", str(served),
                "--port", str(port)]  # fmt: skip

        def ok(res: httpx.Response) -> bool:
            return res.status_code == 200

        child = Supervisor(
            f"Vercel function {name}", argv, ready=http_probe(url + "/api/webhook", ok),
            log_path=self.folder / name / "function.log", env=env, cwd=served,
        )  # fmt: skip
        child.start()
        return child, url

    def stop(self) -> None:
        with self.lock:
            for child, _ in self.hosts.values():
                child.stop()
            self.hosts.clear()


@dataclass
class VercelWorld:
    url: str
    settings: Any
    fake: ExpiringVercel
    functions: LocalVercel
    watcher: Any
    watcher_key: bytes
    relay: str
    mint_url: str
    records: Records


@contextlib.contextmanager
def vercel_world(tmp: Path, token: str) -> Iterator[VercelWorld]:
    """Everything started, the service last; stopped in reverse order."""
    import uvicorn

    from nwc_signer.dev.mint import DevMint
    from nwc_signer.dev.relay import InProcessRelay
    from onboarding.app import create_app
    from onboarding.settings import Settings
    from signer_core.crypto.secp import generate_private_key
    from tests.e2e import start_watcher

    records = Records()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(records)
    root.setLevel(logging.DEBUG)
    with contextlib.ExitStack() as es:
        es.callback(root.setLevel, old_level)
        es.callback(root.removeHandler, records)
        mint = es.enter_context(DevMint())
        relay = es.enter_context(InProcessRelay())
        key = generate_private_key()
        watcher = start_watcher(tmp / "watcher", key)
        es.callback(watcher.stop)
        fake = es.enter_context(ExpiringVercel(token=token))
        functions = LocalVercel(fake, tmp / "functions", tmp / "service" / "bundles" / "vercel")
        es.callback(functions.stop)
        api_url, store_url = fake.blob_urls()
        port = free_port()
        settings = Settings(
            public_url=f"http://127.0.0.1:{port}",
            work_dir=tmp / "service",
            watcher_url=watcher.url,
            mint_url=mint.url,
            relays=[relay.url],
            vercel_api_url=fake.base_url,
            vercel_blob_api_url=api_url,
            vercel_blob_store_url=store_url,
            connect_timeout_s=90,
            function_url_for=functions.url_for,
        )
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                           log_level="info", lifespan="off")
        )  # fmt: skip
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
            time.sleep(0.05)

        def stop_server() -> None:
            server.should_exit = True
            thread.join(10)

        es.callback(stop_server)
        yield VercelWorld(settings.public_url, settings, fake, functions, watcher, key,
                          relay.url, mint.url, records)  # fmt: skip
