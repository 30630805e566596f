"""NIP-47 error codes and the one exception every layer raises to answer a client."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    RATE_LIMITED = "RATE_LIMITED"
    NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    RESTRICTED = "RESTRICTED"
    UNAUTHORIZED = "UNAUTHORIZED"
    INTERNAL = "INTERNAL"
    UNSUPPORTED_ENCRYPTION = "UNSUPPORTED_ENCRYPTION"
    OTHER = "OTHER"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    NOT_FOUND = "NOT_FOUND"
    # NWC-321 (pay / receive): docs/nwc-extensions.md
    BAD_REQUEST = "BAD_REQUEST"
    UNSUPPORTED_PAYMENT_INSTRUCTION = "UNSUPPORTED_PAYMENT_INSTRUCTION"
    UNSUPPORTED_NETWORK = "UNSUPPORTED_NETWORK"
    FEE_LIMIT_EXCEEDED = "FEE_LIMIT_EXCEEDED"


class NwcError(Exception):
    """Raised anywhere below the pipeline to answer the client with a NIP-47 error.

    The message goes to the client: it must be useful and must never contain a secret.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_nip47(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}
