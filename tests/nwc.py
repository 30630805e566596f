"""Test helpers: a minimal NWC app (request builder, reply reader) and a local wallet
folder created through the real CLI, delivering webhooks signed like the watcher does."""

from __future__ import annotations

import contextlib
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from functions.local import LocalFunction
from nwc_signer.cli import main as cli
from signer_core.crypto import nip04, nip44
from signer_core.crypto.secp import generate_private_key, xonly_pubkey
from signer_core.pipeline import WebhookResponse
from signer_core.protocol.events import Event, sign_event
from signer_core.protocol.uri import ConnectionUri, parse_uri
from signer_core.webhook import sign_delivery

# Every secret a test creates is registered here; conftest searches captured logs for them.
SECRETS_SEEN: set[str] = set()


def remember_secret(value: str | bytes) -> None:
    SECRETS_SEEN.add(value.hex() if isinstance(value, bytes) else value)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli(list(argv))
    return code, out.getvalue(), err.getvalue()


@dataclass
class App:
    """An NWC client holding one connection URI."""

    uri: ConnectionUri
    secret: bytes = field(repr=False)
    encryption: str | None = "nip44_v2"  # None = NIP-04 without an encryption tag

    @classmethod
    def from_uri(cls, text: str, encryption: str | None = "nip44_v2") -> App:
        uri = parse_uri(text)
        remember_secret(uri.secret)
        return cls(uri, bytes.fromhex(uri.secret), encryption)

    @classmethod
    def stranger(cls, service_pubkey: str) -> App:
        secret = generate_private_key()
        return cls(ConnectionUri(service_pubkey, ["ws://x"], secret.hex()), secret)

    @property
    def pubkey(self) -> str:
        return xonly_pubkey(self.secret).hex()

    def _encrypt(self, text: str, scheme: str | None) -> str:
        peer = bytes.fromhex(self.uri.service_pubkey)
        if scheme == "nip04" or scheme is None:
            return nip04.encrypt(text, self.secret, peer)
        return nip44.encrypt(text, nip44.get_conversation_key(self.secret, peer))

    def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        created_at: int | None = None,
        extra_tags: list[list[str]] | None = None,
        content: str | None = None,
    ) -> Event:
        body = json.dumps({"method": method, "params": params or {}})
        tags = [["p", self.uri.service_pubkey]]
        if self.encryption is not None:
            tags.append(["encryption", self.encryption])
        tags.extend(extra_tags or [])
        enc = self.encryption if self.encryption in (None, "nip04", "nip44_v2") else "nip44_v2"
        return sign_event(
            self.secret,
            23194,
            content if content is not None else self._encrypt(body, enc),
            tags,
            created_at=created_at if created_at is not None else int(time.time()),
        )

    def read(self, event: Event) -> dict[str, Any]:
        """Decrypt a reply or notification addressed to this app."""
        peer = bytes.fromhex(event["pubkey"])
        if event["kind"] == 23196 or (event["kind"] == 23195 and self.encryption is None):
            return dict(json.loads(nip04.decrypt(event["content"], self.secret, peer)))
        if event["kind"] == 23195 and self.encryption == "nip04":
            return dict(json.loads(nip04.decrypt(event["content"], self.secret, peer)))
        key = nip44.get_conversation_key(self.secret, peer)
        return dict(json.loads(nip44.decrypt(event["content"], key)))


@dataclass
class LocalWallet:
    """A wallet folder made by the CLI, and its function, called like the watcher calls it."""

    path: Path
    watcher_secret: bytes = field(repr=False)

    @classmethod
    def create(cls, path: Path, mint_url: str) -> LocalWallet:
        code, out, err = run_cli(
            "wallet",
            "create",
            "--data-dir",
            str(path),
            "--backend",
            "cashu",
            "--mint-url",
            mint_url,
            "--relay",
            "ws://127.0.0.1:1",
        )
        assert code == 0, err
        phrase = out.split("Recovery phrase")[1].splitlines()[1].strip()
        remember_secret(phrase)
        root = (path / "secrets" / "root.key").read_text().strip()
        remember_secret(root)
        watcher = bytes.fromhex((path / "secrets" / "watcher.key").read_text().strip())
        return cls(path, watcher)

    def add_app(self, *extra: str, name: str = "app", encryption: str | None = "nip44_v2") -> App:
        code, out, err = run_cli(
            "connection", "add", "--data-dir", str(self.path), "--name", name, "--no-qr", *extra
        )
        assert code == 0, err
        return App.from_uri(out.strip().splitlines()[-1], encryption)

    def function(self) -> LocalFunction:
        return LocalFunction(self.path)

    def deliver_body(self, body: bytes, *, now: int | None = None) -> WebhookResponse:
        headers = sign_delivery(body, self.watcher_secret, now or int(time.time()))
        return self.function().handle(headers, body)

    def deliver(self, event: Event, *, attempt: int = 1) -> WebhookResponse:
        body = json.dumps(
            {
                "type": "request",
                "event": event,
                "relays": ["ws://127.0.0.1:1"],
                "delivery": {"id": event["id"], "attempt": attempt},
            }
        ).encode()
        return self.deliver_body(body)

    def wake(self) -> WebhookResponse:
        return self.deliver_body(json.dumps({"type": "wake"}).encode())

    def call(self, app: App, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Round trip one request; returns the decrypted reply (asserts a single 23195)."""
        event = app.request(method, params)
        response = self.deliver(event)
        assert response.status == 200, response.message
        replies = [e for e in response.events if e["kind"] == 23195]
        assert len(replies) == 1, response.events
        assert replies[0]["tags"][:2] == [["p", app.pubkey], ["e", event["id"]]]
        return app.read(replies[0])
