"""What a client got back from one NWC call, the same shape for every client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Outcome:
    """A result or an error, and how the client was asked (`via`): its own wrapper for the
    method, or a generic path (named) for a method the client does not wrap."""

    method: str
    via: str
    result: dict[str, Any] | None = None
    code: str | None = None  # the NIP-47 error code, when the client reports one
    message: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result is not None and self.code is None

    def expect_result(self) -> dict[str, Any]:
        if self.result is None:
            raise AssertionError(f"{self.method} via {self.via}: error {self.code} {self.message}")
        return self.result
