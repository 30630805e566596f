"""A minimal NWC app (client side of NIP-47) for tests, benchmarks and local tooling:
builds signed 23194 requests for a connection URI and reads the wallet's replies."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from signer_core.crypto import nip04, nip44
from signer_core.crypto.secp import generate_private_key, xonly_pubkey
from signer_core.protocol.events import Event, sign_event
from signer_core.protocol.uri import ConnectionUri, parse_uri


@dataclass
class NwcApp:
    uri: ConnectionUri
    secret: bytes = field(repr=False)
    encryption: str | None = "nip44_v2"  # None: legacy NIP-04 request without the tag

    @classmethod
    def from_uri(cls, text: str, encryption: str | None = "nip44_v2") -> NwcApp:
        uri = parse_uri(text)
        return cls(uri, bytes.fromhex(uri.secret), encryption)

    @classmethod
    def stranger(cls, service_pubkey: str) -> NwcApp:
        """An app with no connection, aiming at a real wallet-service pubkey."""
        secret = generate_private_key()
        return cls(ConnectionUri(service_pubkey, ["ws://x"], secret.hex()), secret)

    @property
    def pubkey(self) -> str:
        return xonly_pubkey(self.secret).hex()

    def _encrypt(self, text: str) -> str:
        peer = bytes.fromhex(self.uri.service_pubkey)
        if self.encryption in (None, "nip04"):
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
        tags = [["p", self.uri.service_pubkey]]
        if self.encryption is not None:
            tags.append(["encryption", self.encryption])
        tags.extend(extra_tags or [])
        if content is None:
            content = self._encrypt(json.dumps({"method": method, "params": params or {}}))
        return sign_event(
            self.secret,
            23194,
            content,
            tags,
            created_at=created_at if created_at is not None else int(time.time()),
        )

    def read(self, event: Event) -> dict[str, Any]:
        """Decrypt a reply (23195) or notification (23196/23197) addressed to this app."""
        peer = bytes.fromhex(event["pubkey"])
        nip04_reply = event["kind"] == 23195 and self.encryption in (None, "nip04")
        if event["kind"] == 23196 or nip04_reply:
            return dict(json.loads(nip04.decrypt(event["content"], self.secret, peer)))
        key = nip44.get_conversation_key(self.secret, peer)
        return dict(json.loads(nip44.decrypt(event["content"], key)))
