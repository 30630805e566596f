"""The onboarding service's test world, all on loopback: the service itself (uvicorn on a
thread), the fake OAuth provider and the fake Cloudflare API, a relay, the test mint, a
relay-watcher process, and ``LocalWorkers``: what the fake Cloudflare API received, running.

How a deploy "lands in the local Cloudflare runtime": when the service registers a Worker's
workers.dev URL with the watcher, ``LocalWorkers.url_for`` first checks that the uploaded
modules are byte for byte the files the local Pyodide host loads (functions/cloudflare/
worker.py, signer_core/**.py, the vendored wheels), then starts that host with the script's
uploaded secrets (ROOT_SECRET, WALLET_ID) and its WATCHER_PUBKEY binding, copies the R2
object and the D1 guard row the deploy wrote into the host's miniflare R2 and D1, and hands
the watcher the host's loopback URL. The Worker that answers is the uploaded code, on the
uploaded secrets and state.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from nwc_signer.dev.cloudflare import HOST_DIR, NODE, VENDORED, host_missing
from nwc_signer.dev.process import REPO_ROOT, Supervisor, free_port, http_probe
from tests.cloudflare_api import FakeCloudflare
from tests.fake_oauth import FakeOAuth


class ExpiringCloudflare(FakeCloudflare):
    """The fake API, able to expire the current token at one chosen request, and to hold
    one chosen request until the test releases it (a deploy caught mid-way, no sleeps)."""

    expire_on: str | None = None  # regex over "METHOD path"
    hold_on: str | None = None
    held = threading.Event()
    release = threading.Event()

    def _route(
        self, method: str, path: str, query: str, auth: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        if self.hold_on and re.search(self.hold_on, f"{method} {path}"):
            self.hold_on = None
            self.held.set()
            self.release.wait(120)
        if self.expire_on and re.search(self.expire_on, f"{method} {path}"):
            self.expire_on = None
            self.token = "expired-" + secrets.token_hex(4)
        return super()._route(method, path, query, auth, headers, body)


def uploaded_code_is_the_hosts(parts: list[Any]) -> None:
    """Every uploaded module equals the file the local host loads for it."""
    for part in parts:
        if part.name == "worker.py":
            local = HOST_DIR / "worker.py"
        elif part.name.startswith("python_modules/"):
            local = VENDORED / part.name.removeprefix("python_modules/")
        else:
            local = REPO_ROOT / part.name
        assert local.is_file() and local.read_bytes() == part.data, part.name


class LocalWorkers:
    """One Pyodide host per deployed Worker, started from what the fake API received."""

    def __init__(self, fake: FakeCloudflare, folder: Path) -> None:
        self.fake, self.folder = fake, folder
        self.hosts: dict[str, Supervisor] = {}
        self.lock = threading.Lock()

    def url_for(self, worker_url: str) -> str:
        name = (urlsplit(worker_url).hostname or "").split(".")[0]
        with self.lock:
            if name not in self.hosts:
                self.hosts[name] = self._start(name)
            return f"http://127.0.0.1:{self.hosts[name].argv[5]}/"

    def _start(self, name: str) -> Supervisor:
        script = self.fake.scripts[name]
        uploaded_code_is_the_hosts(script.parts)
        bindings = {b["name"]: b for b in script.metadata["bindings"]}
        env = {
            **os.environ,
            "NWC_ROOT_SECRET": script.secrets["ROOT_SECRET"],
            "NWC_WALLET_ID": script.secrets["WALLET_ID"],
            "NWC_WATCHER_PUBKEY": bindings["WATCHER_PUBKEY"]["text"],
        }
        port = free_port()
        persist = self.folder / name
        persist.mkdir(parents=True, exist_ok=True)
        url = f"http://127.0.0.1:{port}"
        argv = [
            str(NODE),
            "--experimental-wasm-jspi",
            "pyodide_host.mjs",
            "serve",
            "--port",
            str(port),
            "--persist",
            str(persist),
            "--admin",
        ]
        host = Supervisor(
            f"Pyodide Worker {name}",
            argv,
            ready=http_probe(url + "/health"),
            log_path=persist / "host.log",
            env=env,
            cwd=HOST_DIR,
            start_timeout=120,
        )
        host.start()
        blob = self.fake.buckets[bindings["STATE"]["bucket_name"]]["wallet.sealed"]
        guard = self.fake.databases[bindings["GUARD"]["id"]].db
        (high,) = guard.execute("SELECT high_water FROM guard WHERE id = 'wallet'").fetchone()
        httpx.put(url + "/__admin/state", content=blob, timeout=30).raise_for_status()
        httpx.post(f"{url}/__admin/guard/{int(high)}", timeout=30).raise_for_status()
        return host

    def stop(self) -> None:
        with self.lock:
            for host in self.hosts.values():
                host.stop()
            self.hosts.clear()


class Records(logging.Handler):
    """Every log record of the run, formatted, for the no-secrets search."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(f"{record.name} {record.getMessage()} {record.args!r}")
        except Exception:  # a record that cannot format still counts as text
            self.lines.append(f"{record.name} {record.msg!r} {record.args!r}")


@dataclass
class World:
    url: str
    settings: Any
    fake: ExpiringCloudflare
    oauth: FakeOAuth
    workers: LocalWorkers
    watcher: Any
    watcher_key: bytes
    relay: str
    mint_url: str
    records: Records
    app: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def cloudflare_runtime_missing() -> str | None:
    return host_missing() if NODE.exists() else f"{NODE} is missing (scripts/bootstrap.sh)"


@contextlib.contextmanager
def world(tmp: Path) -> Iterator[World]:
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
        es.callback(lambda: w.watcher.stop())
        fake = es.enter_context(ExpiringCloudflare(token="nobody-has-this"))  # noqa: S106
        workers = LocalWorkers(fake, tmp / "workers")
        es.callback(workers.stop)
        port = free_port()
        public = f"http://127.0.0.1:{port}"

        def on_revoke(token: str) -> None:
            if fake.token == token:
                fake.token = "revoked-" + secrets.token_hex(4)

        oauth = FakeOAuth(redirect_uri=f"{public}/cloudflare/callback", on_revoke=on_revoke)
        oauth.on_token = lambda token: setattr(fake, "token", token)
        es.enter_context(oauth)
        settings = Settings(
            public_url=public,
            work_dir=tmp / "service",
            watcher_url=watcher.url,
            mint_url=mint.url,
            relays=[relay.url],
            cf_client_id=oauth.client_id,
            cf_authorize_url=f"{oauth.url}/oauth2/auth",
            cf_token_url=f"{oauth.url}/oauth2/token",
            cf_revoke_url=f"{oauth.url}/oauth2/revoke",
            cf_api_url=fake.base_url,
            connect_timeout_s=90,
            function_url_for=workers.url_for,
        )
        app = create_app(settings)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info", lifespan="off")
        )
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
        w = World(
            public, settings, fake, oauth, workers, watcher, key, relay.url, mint.url, records, app
        )
        yield w
