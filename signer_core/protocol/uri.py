"""nostr+walletconnect:// connection URIs."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlsplit

SCHEME = "nostr+walletconnect"


@dataclass
class ConnectionUri:
    service_pubkey: str
    relays: list[str]
    secret: str = field(repr=False)
    lud16: str | None = None

    def __str__(self) -> str:
        query = [f"relay={quote(r, safe='')}" for r in self.relays]
        query.append(f"secret={self.secret}")
        if self.lud16:
            query.append(f"lud16={quote(self.lud16, safe='@')}")
        return f"{SCHEME}://{self.service_pubkey}?{'&'.join(query)}"


def _is_hex64(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def parse_uri(uri: str) -> ConnectionUri:
    """Parse and check a connection URI; raises ValueError with a clear message."""
    parts = urlsplit(uri.strip())
    if parts.scheme != SCHEME:
        raise ValueError(f"not a {SCHEME}:// URI")
    pubkey = (parts.netloc or parts.path.lstrip("/")).lower()
    if not _is_hex64(pubkey):
        raise ValueError("the wallet-service pubkey must be 64 hex characters")
    query = parse_qs(parts.query)
    relays = query.get("relay", [])
    if not relays:
        raise ValueError("the URI names no relay")
    secret = (query.get("secret") or [""])[0].lower()
    if not _is_hex64(secret):
        raise ValueError("the secret must be 64 hex characters")
    lud16s = query.get("lud16")
    lud16 = lud16s[0] if lud16s else None
    return ConnectionUri(pubkey, relays, secret, lud16)
