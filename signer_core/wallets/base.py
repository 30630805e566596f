"""The wallet interface every backend implements (Cashu now, Spark and Ark later).

In the spirit of Alby Hub's LNClient, but split so the pipeline can write a claim between
"prepare" and "send": no money moves until the claim is durably stored (exactly-once).

A wallet works on `data`, its own JSON-serialisable slice of the sealed state, and mutates
it in place; the pipeline seals and writes it back with a compare-and-swap. A wallet never
touches storage itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal, Protocol

# The NIP-47 methods a full Lightning backend serves, in the order get_info lists them (a
# backend may declare fewer). The one list of backend method names: signer_core.methods
# builds its own list from it (the import goes methods -> wallets, never back).
LIGHTNING_METHOD_NAMES: tuple[str, ...] = (
    "pay_invoice",
    "make_invoice",
    "lookup_invoice",
    "list_transactions",
    "get_balance",
    "get_info",
)
LIGHTNING_METHODS = frozenset(LIGHTNING_METHOD_NAMES)
PAYMENT_NOTIFICATIONS = frozenset({"payment_received", "payment_sent"})

TxType = Literal["incoming", "outgoing"]
TxState = Literal["pending", "settled", "expired", "failed", "accepted"]


@dataclass
class Transaction:
    """A NIP-47 transaction object; amounts in millisatoshis, times in unix seconds."""

    type: TxType
    state: TxState
    invoice: str
    payment_hash: str
    amount: int
    fees_paid: int = 0
    created_at: int = 0
    description: str | None = None
    description_hash: str | None = None
    preimage: str | None = None
    expires_at: int | None = None
    settled_at: int | None = None
    metadata: dict[str, Any] | None = None

    def to_nip47(self) -> dict[str, Any]:
        """The wire form: always carries invoice, payment_hash, amount, fees_paid, created_at."""
        out = asdict(self)
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Transaction:
        fields: dict[str, Any] = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        return cls(**fields)


@dataclass
class PreparedPayment:
    """A quoted payment whose inputs are reserved in the wallet's state; no money moved yet.

    Stored verbatim in the ledger's claim, so it must stay JSON-serialisable (`data`).
    """

    reference: str  # backend payment reference (Cashu melt quote id, Spark payment id)
    invoice: str
    payment_hash: str
    amount_msat: int
    fee_reserve_msat: int
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PreparedPayment:
        return cls(**raw)


class FundsInFlight(Exception):  # noqa: N818 - a state, not a failure
    """The wallet holds enough, but part of it is reserved by payments in flight (their
    change comes back when they finish): a retryable refusal (409), never a stored
    INSUFFICIENT_BALANCE. Raised before any claim, so nothing was reserved for this one."""


@dataclass
class PaymentOutcome:
    """What the backend says happened to a payment."""

    status: Literal["settled", "failed", "pending"]
    preimage: str | None = None
    fees_paid_msat: int = 0
    message: str = ""


@dataclass
class SyncResult:
    """Incoming payments settled since the last sync, and when to look again."""

    received: list[Transaction] = field(default_factory=list)
    wake_at: int | None = None


@dataclass
class WalletEnv:
    """What a backend needs from outside its state: the seed, a clock, time limits."""

    seed: bytes = field(repr=False)  # BIP-39 seed (64 bytes) of the wallet's mnemonic
    now: int  # unix seconds, from the pipeline's clock
    http_timeout: float = 10.0
    config: dict[str, Any] = field(default_factory=dict)
    # the BIP-39 phrase itself, for SDKs that derive their keys from it (Spark)
    mnemonic: str = field(default="", repr=False)


def keeps_metadata(wallet: object) -> bool:
    """Does this backend keep make_invoice's `metadata` on the transaction (NWC-06)? A
    backend says so with a class attribute `keeps_metadata = True`; absent means no."""
    return bool(getattr(wallet, "keeps_metadata", False))


def http_transport(wallet: object) -> Any:
    """The httpx transport a backend talks through (Pyodide's fetch transport there), for
    other HTTP calls made for it (LNURL-pay); None means httpx's default."""
    return getattr(wallet, "http_transport", None)


def wallet_config(wallet: object) -> dict[str, Any]:
    """The deployment's wallet_config as the backend was given it (WalletEnv.config)."""
    env = getattr(wallet, "env", None)
    config = getattr(env, "config", None)
    return config if isinstance(config, dict) else {}


def payment_network(wallet: Any) -> str | None:
    """The bitcoin network this backend's payments must be on, to refuse an invoice of
    another (NWC-321). A backend whose network is only a guess says None with a
    `payment_network` attribute (Cashu: the mint's own Lightning node is the authority
    and refuses such invoices at quote time); otherwise get_info's `network`."""
    if hasattr(wallet, "payment_network"):
        declared = wallet.payment_network
        return declared if isinstance(declared, str) else None
    network = wallet.get_info().get("network")
    return network if isinstance(network, str) and network else None


class Wallet(Protocol):
    """One wallet backend. Raise signer_core.protocol.errors.NwcError for client-facing errors."""

    kind: ClassVar[str]
    methods: ClassVar[frozenset[str]]  # NIP-47 methods this backend serves
    notifications: ClassVar[frozenset[str]]

    def get_info(self) -> dict[str, Any]:
        """alias/network/etc. for get_info (the pipeline adds methods and notifications)."""
        ...

    def get_balance_msat(self) -> int: ...

    def make_invoice(
        self,
        *,
        amount_msat: int,
        description: str | None,
        description_hash: str | None,
        expiry: int | None,
        metadata: dict[str, Any] | None,
    ) -> Transaction: ...

    def lookup_invoice(self, *, payment_hash: str) -> Transaction | None:
        """This wallet's transaction with that payment hash (lowercase hex), else None.
        The method module resolves a bolt11 to its hash first (one place for that)."""
        ...

    def list_transactions(
        self,
        *,
        from_time: int | None,
        until: int | None,
        limit: int,
        offset: int,
        unpaid: bool,
        tx_type: TxType | None,
    ) -> list[Transaction]:
        """Newest first."""
        ...

    def prepare_payment(
        self, *, invoice: str, amount_msat: int | None, request_id: str
    ) -> PreparedPayment:
        """Quote the payment and reserve its inputs in `data`. Raises NwcError
        (INSUFFICIENT_BALANCE, PAYMENT_FAILED, OTHER) when it cannot be paid."""
        ...

    def send_payment(self, prepared: PreparedPayment) -> PaymentOutcome:
        """Move the money. Must update `data` (spent inputs, change, tx log) for any outcome."""
        ...

    def reconcile_payment(self, prepared: PreparedPayment) -> PaymentOutcome | None:
        """After a crash or a duplicate: ask the backend what became of a claimed payment and
        apply it to `data`. None means the backend never saw it, so it is safe to send."""
        ...

    def cancel_payment(self, prepared: PreparedPayment) -> None:
        """Release inputs reserved by prepare_payment (payment never sent)."""
        ...

    def needs_sync(self) -> bool:
        """Cheap, offline: is anything pending that only the backend can settle?"""
        ...

    def sync(self) -> SyncResult:
        """Settle what the backend settled (e.g. mint paid quotes); may use the network."""
        ...
