"""One module per NIP-47 method, like Alby Hub's nip47/controllers/.

Each module has `handle(ctx, params) -> result dict` and raises NwcError to answer with an
error. Modules are imported by name only when their method is called, so a get_balance
never loads pydantic or the payment code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Protocol

from signer_core.protocol.events import Event
from signer_core.state import Connection, LedgerEntry, WalletState
from signer_core.wallets.base import LIGHTNING_METHOD_NAMES, Wallet, keeps_metadata

# Connection management (docs/nwc-admin-methods.md): only a connection flagged admin may
# call these, and they are never granted to a connection, so none can be made over NWC.
ADMIN_METHOD_NAMES: tuple[str, ...] = (
    "create_connection",
    "list_connections",
    "revoke_connection",
    "transfer_funds",
)
ADMIN_METHODS = frozenset(ADMIN_METHOD_NAMES)
# Methods answered by the signer itself, whatever the backend.
SIGNER_METHOD_NAMES: tuple[str, ...] = ("get_budget",)
SIGNER_METHODS = frozenset({*SIGNER_METHOD_NAMES, *ADMIN_METHOD_NAMES})
# NWC extension methods (docs/nwc-extensions.md: 03 hold invoices, 321 pay/receive, Alby's
# sign_message). Served where the backend lists them in Wallet.methods; on any other backend
# they answer NOT_IMPLEMENTED naming the backend (request._run).
EXTENSION_METHOD_NAMES: tuple[str, ...] = (
    "pay",
    "receive",
    "make_hold_invoice",
    "settle_hold_invoice",
    "cancel_hold_invoice",
    "sign_message",
)
# Methods apps call that no backend of ours serves, and why (answered NOT_IMPLEMENTED).
NEVER_SERVED: dict[str, str] = {
    "pay_keysend": "keysend (NWC-04) is not served: neither Cashu mints nor Spark can send "
    "a keysend payment; pay an invoice, a lightning address or a BIP-321 URI instead",
    "multi_pay_invoice": "multi_pay_invoice was removed from NIP-47; send one pay_invoice "
    "per invoice",
    "multi_pay_keysend": "multi_pay_keysend was removed from NIP-47, and keysend (NWC-04) is "
    "not served: neither Cashu mints nor Spark can send a keysend payment",
}
# Methods a connection can be granted (the wallet backend may support fewer), in order.
GRANTABLE_METHODS: tuple[str, ...] = (
    *LIGHTNING_METHOD_NAMES,
    *EXTENSION_METHOD_NAMES,
    *SIGNER_METHOD_NAMES,
)
# Methods served by this signer, in get_info's order.
IMPLEMENTED: tuple[str, ...] = (*GRANTABLE_METHODS, *ADMIN_METHOD_NAMES)
# Methods every connection may call whatever it was granted: they reveal nothing of value
# beyond the connection's own limits, and clients call them before anything else.
ALWAYS_ALLOWED = frozenset({"get_info", *SIGNER_METHOD_NAMES})
# Requests whose reply is stored in the ledger: repeating them must not repeat their effect.
LEDGERED = frozenset(
    {
        "pay_invoice",
        "make_invoice",
        "pay",
        "receive",
        "make_hold_invoice",
        "settle_hold_invoice",
        "cancel_hold_invoice",
        "create_connection",
        "revoke_connection",
        "transfer_funds",
    }
)


@dataclass
class MethodContext:
    state: WalletState
    connection: Connection
    wallet: Wallet
    request_id: str
    now: int
    # Seal and compare-and-swap the state now (claim before money moves). Raises
    # VersionConflict; the pipeline then re-runs the request on the fresh state.
    commit: Callable[[], None]
    # this request's ledger record, inserted into the state by a claim or by the pipeline
    entry: LedgerEntry | None = None
    # (notification_type, transaction) pairs to publish to the wallet's connections
    notifications: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # a revoked connection: the final commit seals with a new data key
    rotate_key: bool = False
    # the wallet's root secret: create_connection derives the new wallet-service key
    root_secret: bytes = field(default=b"", repr=False)

    def available_methods(self) -> list[str]:
        return available_methods(self.connection, self.wallet.methods)

    def available_notifications(self) -> list[str]:
        return available_notifications(self.connection, self.wallet.notifications)

    def available_extensions(self) -> list[str]:
        return available_extensions(
            self.connection,
            self.wallet.methods,
            self.wallet.notifications,
            metadata=keeps_metadata(self.wallet),
        )


def available_methods(connection: Connection, wallet_methods: frozenset[str]) -> list[str]:
    """Methods this connection may call on this backend, in a stable order."""
    granted = set(connection.methods) | ALWAYS_ALLOWED
    if connection.admin:
        granted |= ADMIN_METHODS
    served = set(wallet_methods) | SIGNER_METHODS
    return [m for m in IMPLEMENTED if m in granted and m in served]


def available_notifications(
    connection: Connection, wallet_notifications: frozenset[str]
) -> list[str]:
    if "notifications" not in connection.methods:
        return []
    return sorted(wallet_notifications)


def available_extensions(
    connection: Connection,
    wallet_methods: frozenset[str],
    wallet_notifications: frozenset[str],
    *,
    metadata: bool = False,
) -> list[str]:
    """The NWC extension specs (nostr-wallet-connect/nwc) this connection may use on this
    backend, for the info event's `extensions` tag and get_info: 02 notifications, 03 hold
    invoices, 05 list_transactions, 06 metadata (only where make_invoice keeps it), 321
    pay/receive. 04 keysend is never served; 07 (deep links) is pairing, not a capability."""
    served = set(available_methods(connection, wallet_methods))
    out = []
    if available_notifications(connection, wallet_notifications):
        out.append("02")
    if {"make_hold_invoice", "settle_hold_invoice"} <= served:  # cancel may be missing
        out.append("03")  # (Spark cannot fail an HTLC back): `methods` says which are served
    if "list_transactions" in served:
        out.append("05")
    if metadata and "make_invoice" in served:
        out.append("06")
    if "pay" in served or "receive" in served:
        out.append("321")
    return out


def connection_info_event(
    connection: Connection, service_secret: bytes, wallet: Wallet, now: int
) -> Event:
    """The 13194 info event of one connection: what it may use on this backend, tagged with
    its client pubkey (an app that brought its own key finds its wallet-service key by `#p`)."""
    from signer_core.protocol import nip47

    methods, notifications = wallet.methods, wallet.notifications
    return nip47.info_event(
        service_secret=service_secret,
        methods=available_methods(connection, methods),
        notifications=available_notifications(connection, notifications),
        extensions=available_extensions(
            connection, methods, notifications, metadata=keeps_metadata(wallet)
        ),
        client_pubkey=connection.client_pubkey,
        now=now,
    )


class PaymentPending(Exception):
    """The backend has a payment in flight; its claim stays and we look again later."""


class MethodHandler(Protocol):
    def __call__(self, ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]: ...


def load(method: str) -> MethodHandler:
    """The handler of an implemented method (never imports an arbitrary module name)."""
    if method not in IMPLEMENTED:
        raise KeyError(method)
    handler: MethodHandler = import_module(f"signer_core.methods.{method}").handle
    return handler
