"""The wallet state that lives (encrypted) inside the sealed blob.

Plain dataclasses with explicit to/from dict: pydantic costs ~200 ms to import on this
machine, most of a cold request's budget, and this module is on every request's path.
Everything that must change atomically with the balance lives here: connections, their
budgets and usage, the request ledger and the backend's own state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

STATE_VERSION = 1

Renewal = Literal["never", "daily", "weekly", "monthly", "yearly"]
RENEWALS: tuple[Renewal, ...] = ("never", "daily", "weekly", "monthly", "yearly")


@dataclass
class Budget:
    max_msat: int
    renewal: Renewal = "monthly"


@dataclass
class Connection:
    """One NWC connection: its client pubkey, permissions, budget and usage."""

    id: str
    name: str
    client_pubkey: str
    service_pubkey: str
    methods: list[str]
    created_at: int
    budget: Budget | None = None
    expires_at: int | None = None
    last_used_at: int | None = None
    # settled spending inside the current budget period; pending claims are added on top
    spent_msat: int = 0
    period_start: int = 0
    # may call the NWC admin methods (create/list/revoke connections): the home page's
    # connection. Defaults to False so states written before the flag existed still load.
    admin: bool = False
    # an isolated connection (a sub-wallet, Alby Hub's isolated app) spends only its own
    # balance: transfers in - transfers out + received - paid - fees, settled amounts only
    # (payments in flight are subtracted from the ledger's claims). docs/isolated-connections.md
    isolated: bool = False
    balance_msat: int = 0

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Connection:
        data = dict(raw)
        budget = data.pop("budget", None)
        return cls(budget=Budget(**budget) if budget else None, **data)


LedgerStatus = Literal["claimed", "done"]


@dataclass
class LedgerEntry:
    """A request the wallet has acted on. Claimed before money moves, done with its reply."""

    request_id: str
    connection_id: str
    method: str
    status: LedgerStatus
    created_at: int
    updated_at: int
    # pay_*: the backend's prepared payment (reference, amount, fee reserve, inputs)
    payment: dict[str, Any] | None = None
    # signed reply events, returned verbatim to duplicates of a done request
    response_events: list[dict[str, Any]] | None = None
    # where a late reply goes when a claimed payment is settled by a wake-up
    client_pubkey: str = ""
    scheme: str = "nip44_v2"
    # create_connection / revoke_connection: {"created": connection id} or {"revoked":
    # service pubkey}, so a re-delivered request tells the watcher about the key again
    connection_change: dict[str, str] | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LedgerEntry:
        return cls(**raw)


OwnedState = Literal["open", "credited", "closed"]


@dataclass
class OwnedTx:
    """A transaction of an isolated connection, by payment hash: whose it is, and for an
    invoice whether its receipt has been credited to that connection yet (exactly once)."""

    connection_id: str
    type: Literal["incoming", "outgoing"]
    created_at: int
    state: OwnedState = "open"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> OwnedTx:
        return cls(**raw)


@dataclass
class Transfer:
    """A move of funds between the main balance ("") and an isolated connection."""

    request_id: str
    source: str  # connection id, or "" for the main balance
    target: str
    amount_msat: int
    at: int

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Transfer:
        return cls(**raw)


@dataclass
class WalletState:
    wallet_id: str
    created_at: int
    backend: str
    mnemonic: str
    seed_hex: str  # BIP-39 seed of `mnemonic`, cached: PBKDF2 per cold request is waste
    backend_data: dict[str, Any] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)
    ledger: dict[str, LedgerEntry] = field(default_factory=dict)
    version: int = STATE_VERSION
    # isolated connections' transactions (payment hash -> owner) and the transfers that
    # funded them; absent in states written before isolated connections (they load empty)
    owned_txs: dict[str, OwnedTx] = field(default_factory=dict)
    transfers: list[Transfer] = field(default_factory=list)
    # the lightning address a watcher serves for this wallet (get_info's lud16), once claimed
    # or first used by an invoice request; absent in older states
    lightning_address: str | None = None
    # zap receipts (NIP-57) owed: payment hash -> what the receipt needs, from the sync that
    # saw the zap invoice paid until a 200 answer carrying it is committed
    # (signer_core/zap_receipts.py); absent in older states
    zap_receipts_owed: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> WalletState:
        version = raw.get("version")
        if version != STATE_VERSION:
            raise ValueError(f"unsupported wallet state version {version!r}")
        data = dict(raw)
        data["connections"] = {
            cid: Connection.from_dict(c) for cid, c in raw.get("connections", {}).items()
        }
        data["ledger"] = {rid: LedgerEntry.from_dict(e) for rid, e in raw.get("ledger", {}).items()}
        data["owned_txs"] = {h: OwnedTx.from_dict(o) for h, o in raw.get("owned_txs", {}).items()}
        data["transfers"] = [Transfer.from_dict(t) for t in raw.get("transfers", [])]
        return cls(**data)

    def client_pubkeys(self) -> dict[str, str]:
        """connection id -> client pubkey: what the vault wraps the data key for."""
        return {cid: c.client_pubkey for cid, c in self.connections.items()}
