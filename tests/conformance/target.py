"""What the conformance suite needs of a runtime: a wallet behind that runtime's real entry
point, reached the way the watcher reaches it, plus a view of its stored state.

An adapter module (`adapters/<name>.py`) exposes `open_target(workdir, mint_url)`, a context
manager yielding a `Target`. Adding a runtime = one adapter module + one line in
`RUNTIMES` (conftest.py).
"""

from __future__ import annotations

from typing import Any, Protocol

from signer_core.protocol.webhook import WebhookResponse
from tests.nwc import App


class Target(Protocol):
    watcher_secret: bytes
    # the class whose instances hold this runtime's sealed state (faults are injected there)
    store_class: type[Any]

    def post(self, headers: dict[str, str], body: bytes) -> WebhookResponse:
        """POST raw headers and body to the entry point; its answer as the watcher reads it."""
        ...

    def add_app(self, name: str) -> App:
        """A new NWC connection (all methods, notifications) and its app."""
        ...

    def blob(self) -> bytes:
        """The sealed state as stored now."""
        ...
