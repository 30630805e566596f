"""SDK failures -> NIP-47 errors: the right code and a message a user can act on.

Classified by the SDK's exception class names (``SdkError.InsufficientFunds``,
``ServiceConnectivityError.Timeout``, ...) so this module never imports the SDK. The API
key is never echoed: the SDK's own message about it is replaced by ours.
"""

from __future__ import annotations

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.spark.session import SparkTimeout

UNREACHABLE_HINTS = (
    "network error",
    "dns error",
    "connect",
    "timed out",
    "timeout",
    "unavailable",
    "connection refused",
    "transport error",
)
AUTH_HINTS = ("unauthorized", "unauthenticated", "permission denied", "forbidden", "401", "403")


def kind(exc: BaseException) -> str:
    """``SdkError.InsufficientFunds`` -> ``InsufficientFunds``; plain classes by their name."""
    return type(exc).__name__


def family(exc: BaseException) -> str:
    """The SDK error enum a variant belongs to (``SdkError``, ``ServiceConnectivityError``)."""
    for base in type(exc).__mro__[1:]:
        if base.__name__ in ("SdkError", "ServiceConnectivityError"):
            return base.__name__
    return ""


def is_unreachable(exc: BaseException) -> bool:
    """A failure to reach the operators, the service provider or Breez."""
    if isinstance(exc, SparkTimeout | TimeoutError | ConnectionError):
        return True
    if family(exc) == "ServiceConnectivityError" or kind(exc) == "NetworkError":
        return True
    text = str(exc).lower()
    return kind(exc) in ("SparkError", "Generic") and any(h in text for h in UNREACHABLE_HINTS)


def is_api_key_problem(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "api key" in text or (kind(exc) == "SparkError" and any(h in text for h in AUTH_HINTS))


def is_not_found(exc: BaseException) -> bool:
    """``get_payment`` of an id the local storage does not hold."""
    return kind(exc) == "StorageError" and "no rows" in str(exc).lower()


def _detail(exc: BaseException) -> str:
    text = str(exc).strip().strip("'\"")
    return text[:300] if text else kind(exc)


def to_nwc(exc: BaseException, what: str) -> NwcError:
    """The NIP-47 error for an SDK failure while trying to ``what``."""
    if isinstance(exc, NwcError):
        return exc
    if is_api_key_problem(exc):
        return NwcError(
            ErrorCode.INTERNAL,
            f"could not {what}: the deployment's Breez API key is missing, malformed or not "
            "accepted (set breez_api_key)",
        )
    if isinstance(exc, SparkTimeout):
        return NwcError(ErrorCode.INTERNAL, f"{exc}; try again later")
    if is_unreachable(exc):
        return NwcError(
            ErrorCode.INTERNAL,
            f"could not {what}: the Spark operators are unreachable ({_detail(exc)}); "
            "try again later",
        )
    name = kind(exc)
    if name == "InsufficientFunds":
        return NwcError(ErrorCode.INSUFFICIENT_BALANCE, f"could not {what}: insufficient balance")
    if name in ("InvalidInput", "InvalidUuid"):
        return NwcError(ErrorCode.OTHER, f"could not {what}: {_detail(exc)}")
    if name == "StorageError":
        return NwcError(ErrorCode.INTERNAL, f"could not {what}: wallet storage: {_detail(exc)}")
    return NwcError(ErrorCode.INTERNAL, f"could not {what}: {_detail(exc)}")
