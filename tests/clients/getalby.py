"""@getalby/sdk 8.0.3's NWCClient as a test client: one Node process per connection URI
(getalby_client.mjs), asked one JSON call per line, answering one JSON line per call.

The SDK is the home page's pinned install (scripts/bootstrap.d/40-home-page.sh runs `npm ci`
in onboarding/static/home, whose package.json pins "@getalby/sdk": "8.0.3"); the driver
refuses any other version. Node: the system's `node` (Debian's is 20, whose WebSocket needs
`--experimental-websocket`, harmless on 22) or else the Node 22 of the Cloudflare host.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from tests.clients.outcome import Outcome

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("getalby_client.mjs")
HOME = REPO / "onboarding" / "static" / "home"
SDK_ESM = HOME / "node_modules" / "@getalby" / "sdk" / "dist" / "esm" / "nwc.js"
HOME_BUILD_FAILED = HOME / ".bootstrap-failed"
CLOUDFLARE_NODE = REPO / "functions" / "cloudflare" / "node_modules" / ".bin" / "node"
SDK_VERSION = "8.0.3"
# 8.0.3's NWCClient has no wrapper for these: the driver uses its generic executeNip47Request
UNWRAPPED = frozenset({"pay", "receive", "list_connections", "revoke_connection"})


def node_binary() -> str | None:
    found = shutil.which("node")
    if found:
        return found
    return str(CLOUDFLARE_NODE) if CLOUDFLARE_NODE.exists() else None


def missing() -> str | None:
    """Why the client cannot run here (None when it can): a reason for pytest.skip."""
    if node_binary() is None:
        return "no node: apt-get install nodejs, or run scripts/bootstrap.sh"
    if not SDK_ESM.exists():
        why = HOME_BUILD_FAILED.read_text().strip() if HOME_BUILD_FAILED.exists() else ""
        return f"@getalby/sdk is not installed in {HOME} (scripts/bootstrap.sh) {why}".strip()
    version = json.loads((SDK_ESM.parents[2] / "package.json").read_text())["version"]
    if version != SDK_VERSION:
        return f"{HOME} has @getalby/sdk {version}, the tests want {SDK_VERSION}"
    return None


class GetAlbyClient:
    """A running NWCClient for one connection URI; `call` sends one request, waits for its
    answer. Use as a context manager (the Node process ends with it)."""

    def __init__(self, uri: str, timeout: float = 90) -> None:
        self.uri, self.timeout = uri, timeout
        self.proc: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self.banner: dict[str, Any] = {}

    def __enter__(self) -> GetAlbyClient:
        node = node_binary()
        assert node is not None, missing()
        self.proc = subprocess.Popen(
            [node, "--experimental-websocket", str(DRIVER), str(SDK_ESM), self.uri],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=REPO,
        )  # fmt: skip
        threading.Thread(target=self._pump_out, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()
        self.banner = self._next()
        assert self.banner.get("ready"), self.banner
        return self

    def _pump_out(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _pump_err(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    def _next(self) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=self.timeout)
        except queue.Empty:
            raise AssertionError(f"no answer from the SDK in {self.timeout:.0f} s:\n"
                                 + "\n".join(self.stderr[-20:])) from None  # fmt: skip
        if line is None:
            raise AssertionError("the SDK's process ended:\n" + "\n".join(self.stderr[-20:]))
        answer: dict[str, Any] = json.loads(line)
        if "fatal" in answer:
            raise AssertionError(f"getalby_client.mjs: {answer['fatal']}")
        return answer

    def call(self, method: str, params: dict[str, Any] | None = None) -> Outcome:
        answer = self._ask({"method": method, "params": params or {}})
        assert answer["method"] == method, answer
        error = answer.get("error")
        if error is not None:
            return Outcome(method, answer["via"], None, error.get("code"),
                           f"{error.get('kind')}: {error.get('message')}", answer)  # fmt: skip
        result = answer.get("result")
        return Outcome(method, answer["via"], result if isinstance(result, dict) else {},
                       raw=answer)  # fmt: skip

    def _ask(self, line: dict[str, Any]) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(line) + "\n")
        self.proc.stdin.flush()
        return self._next()

    def subscribe(self, types: list[str]) -> None:
        """NWC-02 notifications, through the SDK's own subscribeNotifications."""
        assert self._ask({"subscribe": types}) == {"subscribed": types}

    def service_info(self) -> dict[str, Any]:
        """The 13194 info event as the SDK reads it: encryptions, capabilities, notifications."""
        found: dict[str, Any] = self._ask({"serviceInfo": True})["serviceInfo"]
        return found

    def notifications(self) -> list[dict[str, Any]]:
        """Those received since the last ask: {notification_type, notification} each."""
        found: list[dict[str, Any]] = self._ask({"notifications": True})["notifications"]
        return found

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write('{"close": true}\n')
            self.proc.stdin.close()
            self.proc.wait(15)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
