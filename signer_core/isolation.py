"""Isolated connections (sub-wallets): whose a transaction is and what each side may spend.

The wallet's backend holds one pot of money. An isolated connection owns a share of it,
kept in the sealed state (`Connection.balance_msat`, settled amounts only); every other
connection sees the main balance, the backend's balance less what the isolated connections
may still spend. Balances change only together with the state that records why (a transfer,
a settled payment, a credited receipt), so one compare-and-swap moves both. Rules and their
reasons: docs/isolated-connections.md.
"""

from __future__ import annotations

from typing import Literal

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.state import Connection, LedgerEntry, OwnedTx, Transfer, WalletState
from signer_core.wallets.base import Wallet

MAX_OWNED_PER_CONNECTION = 1000  # the oldest finished ones are forgotten past this
MAX_TRANSFERS = 200  # the transfer log keeps the newest
OPEN_INVOICE_S = 7 * 86400  # an unpaid invoice is watched for a receipt this long
MAIN = ""  # the main balance, as a transfer's source or target


def pending_msat(conn_id: str, ledger: dict[str, LedgerEntry]) -> int:
    """Amount plus fee reserve of this connection's payments that are claimed, not done."""
    total = 0
    for entry in ledger.values():
        if entry.connection_id == conn_id and entry.status == "claimed" and entry.payment:
            total += int(entry.payment["amount_msat"]) + int(entry.payment["fee_reserve_msat"])
    return total


def has_isolated(state: WalletState) -> bool:
    return any(c.isolated for c in state.connections.values())


def available_msat(state: WalletState, conn: Connection) -> int:
    """What an isolated connection may still spend: its balance less payments in flight."""
    return max(conn.balance_msat - pending_msat(conn.id, state.ledger), 0)


def isolated_msat(state: WalletState) -> int:
    """What the isolated connections together may still spend: not the main balance's."""
    return sum(available_msat(state, c) for c in state.connections.values() if c.isolated)


def main_balance_msat(state: WalletState, backend_msat: int) -> int:
    return max(backend_msat - isolated_msat(state), 0)


def balance_msat(state: WalletState, conn: Connection, wallet: Wallet) -> int:
    """The balance this connection sees (get_balance)."""
    if conn.isolated:
        return available_msat(state, conn)
    backend = wallet.get_balance_msat()
    return main_balance_msat(state, backend) if has_isolated(state) else backend


def owner(state: WalletState, payment_hash: str) -> str | None:
    """The isolated connection a transaction belongs to, or None for the main balance's.
    A claimed payment counts from its claim on, before settle_incoming has copied it."""
    owned = state.owned_txs.get(payment_hash)
    if owned is not None and owned.connection_id in state.connections:
        return owned.connection_id
    for entry in state.ledger.values():
        if entry.payment and entry.payment.get("payment_hash") == payment_hash:
            conn = state.connections.get(entry.connection_id)
            if conn is not None and conn.isolated:
                return conn.id
    return None


def isolated_invoice(state: WalletState, payment_hash: str) -> bool:
    """Is this an invoice an isolated connection made (paying it would be a transfer)?"""
    owned = state.owned_txs.get(payment_hash)
    return (
        owned is not None and owned.type == "incoming" and owned.connection_id in state.connections
    )


def visible(state: WalletState, conn: Connection, payment_hash: str) -> bool:
    """An isolated connection sees only its own transactions; the others see the rest."""
    found = owner(state, payment_hash)
    return found == conn.id if conn.isolated else found is None


def record(
    state: WalletState,
    conn: Connection,
    payment_hash: str,
    tx_type: Literal["incoming", "outgoing"],
    now: int,
) -> None:
    """Attribute a new invoice or payment to its isolated connection (main ones need no
    record: whatever no isolated connection owns is the main balance's)."""
    if not conn.isolated:
        return
    # an outgoing payment is settled into the balance by policy.record_settled, so only an
    # invoice stays open, waiting for its receipt to be credited
    state.owned_txs[payment_hash] = OwnedTx(
        conn.id, tx_type, now, "open" if tx_type == "incoming" else "closed"
    )
    _trim(state, conn.id)


def _trim(state: WalletState, conn_id: str) -> None:
    mine = [(o.created_at, h) for h, o in state.owned_txs.items() if o.connection_id == conn_id]
    excess = len(mine) - MAX_OWNED_PER_CONNECTION
    for _, payment_hash in sorted(mine):
        if excess <= 0:
            break
        if state.owned_txs[payment_hash].state != "open":
            del state.owned_txs[payment_hash]
            excess -= 1


def settle_incoming(state: WalletState, wallet: Wallet, now: int) -> None:
    """Credit each isolated invoice the backend has settled, exactly once (the `credited`
    mark changes in the same state as the balance). Run before any balance is read or
    used: the sync that minted the receipt may have been committed without it."""
    for payment_hash, owned in list(state.owned_txs.items()):
        if owned.connection_id not in state.connections:
            del state.owned_txs[payment_hash]  # revoked: its funds are the main balance's
    for entry in state.ledger.values():  # payments claimed but not yet recorded here
        conn = state.connections.get(entry.connection_id)
        payment_hash = str((entry.payment or {}).get("payment_hash", ""))
        if conn and conn.isolated and payment_hash and payment_hash not in state.owned_txs:
            record(state, conn, payment_hash, "outgoing", entry.created_at)
    for payment_hash, owned in state.owned_txs.items():
        if owned.state != "open":
            continue
        tx = wallet.lookup_invoice(payment_hash=payment_hash)
        if tx is not None and tx.type == "incoming" and tx.state == "settled":
            state.connections[owned.connection_id].balance_msat += tx.amount
            owned.state = "credited"
        elif now - owned.created_at > OPEN_INVOICE_S:
            owned.state = "closed"


def transfer(
    state: WalletState,
    *,
    source: str,
    target: str,
    amount_msat: int,
    backend_msat: int,
    request_id: str,
    now: int,
) -> Transfer:
    """Move funds between the main balance (MAIN) and an isolated connection, or between
    two isolated connections. The caller has run settle_incoming and commits the state."""
    if amount_msat <= 0:
        raise NwcError(ErrorCode.OTHER, "invalid params: amount must be a positive msat amount")
    if source == target:
        raise NwcError(ErrorCode.OTHER, "invalid params: source and target are the same")
    ends = [_isolated(state, cid) for cid in (source, target) if cid != MAIN]
    if not ends:
        raise NwcError(ErrorCode.OTHER, "invalid params: name an isolated connection")
    if source == MAIN:
        left = main_balance_msat(state, backend_msat)
        where = "the main balance"
    else:
        left = available_msat(state, state.connections[source])
        where = f"connection {state.connections[source].name!r}"
    if amount_msat > left:
        raise NwcError(
            ErrorCode.INSUFFICIENT_BALANCE,
            f"{where} has {left} msat to transfer (payments in flight count), "
            f"not {amount_msat} msat",
        )
    if source != MAIN:
        state.connections[source].balance_msat -= amount_msat
    if target != MAIN:
        state.connections[target].balance_msat += amount_msat
    done = Transfer(request_id, source, target, amount_msat, now)
    state.transfers.append(done)
    del state.transfers[:-MAX_TRANSFERS]
    return done


def _isolated(state: WalletState, cid: str) -> Connection:
    conn = state.connections.get(cid)
    if conn is None:
        raise NwcError(ErrorCode.NOT_FOUND, "no connection of this wallet matches")
    if not conn.isolated:
        raise NwcError(
            ErrorCode.OTHER,
            f"connection {conn.name!r} is not isolated: it spends the main balance already",
        )
    return conn
