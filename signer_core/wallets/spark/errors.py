"""SDK failures -> NIP-47 errors: the right code and a message a user can act on.

Classified by the SDK's exception class names (``SdkError.InsufficientFunds``,
``ServiceConnectivityError.Timeout``, ...) so this module never imports the SDK. The API
key is never echoed, nor is any SDK text: messages are ours, chosen by the error's class.
"""

from __future__ import annotations

import logging

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.redact import scrub
from signer_core.wallets.spark.session import SparkTimeout

log = logging.getLogger(__name__)

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


def to_nwc(exc: BaseException, what: str) -> NwcError:
    """The NIP-47 error for an SDK failure while trying to ``what``.

    Built from the error's class only: the SDK's own text can quote keys, SQL or tokens, so
    it goes to the debug log (scrubbed) and never into the message.
    """
    if isinstance(exc, NwcError):
        return exc
    if is_api_key_problem(exc):  # not even a scrubbed log: the text may hold the key
        return NwcError(
            ErrorCode.INTERNAL,
            f"could not {what}: the deployment's Breez API key is missing, malformed or not "
            "accepted (set breez_api_key)",
        )
    log.debug("spark: %s: %s (SDK said: %s)", what, kind(exc), scrub(str(exc)))
    if isinstance(exc, SparkTimeout):
        return NwcError(ErrorCode.INTERNAL, f"{exc}; try again later")
    name = kind(exc)
    if is_unreachable(exc):
        return NwcError(
            ErrorCode.INTERNAL,
            f"could not {what}: the Spark operators are unreachable ({name}); try again later",
        )
    if name == "InsufficientFunds":
        return NwcError(ErrorCode.INSUFFICIENT_BALANCE, f"could not {what}: insufficient balance")
    if name in ("InvalidInput", "InvalidUuid"):
        return NwcError(ErrorCode.OTHER, f"could not {what}: the Spark SDK refused the input")
    if name == "StorageError":
        return NwcError(ErrorCode.INTERNAL, f"could not {what}: the wallet storage failed")
    return NwcError(ErrorCode.INTERNAL, f"could not {what}: the Spark SDK failed ({name})")
