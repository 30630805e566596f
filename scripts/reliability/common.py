"""What the reliability scripts share: the project's own harness, a mint, and the three
observations every proof rests on — the sealed state's bytes and generation, the wallet's
proofs as the mint sees them (NUT-07 checkstate), and the answers' status and body."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from nwc_signer.dev.harness import LocalWallet, run_cli

__all__ = [
    "LocalWallet",
    "Snapshot",
    "WalletAudit",
    "audit",
    "has_traceback",
    "mint",
    "mint_invoice",
    "run_cli",
    "snapshot",
]

TRACEBACK_MARKERS = (b"Traceback (most recent call last)", b'File "', b"Error:")


@contextlib.contextmanager
def mint(url: str | None) -> Iterator[str]:
    """The given mint, or a fresh nutshell test mint (fake Lightning) for the run."""
    if url:
        yield url
        return
    from nwc_signer.dev.mint import DevMint

    with DevMint(input_fee_ppk=0) as started:
        yield started.url


def mint_invoice(mint_url: str, sats: int) -> str:
    """A bolt11 of a mint quote nobody checks (so nobody mints it): a payee that is the mint."""
    res = httpx.post(
        f"{mint_url}/v1/mint/quote/bolt11", json={"amount": sats, "unit": "sat"}, timeout=10
    )
    res.raise_for_status()
    return str(res.json()["request"])


@dataclass(frozen=True)
class Snapshot:
    """The persisted state: sealed blob bytes and the rollback guard's generation."""

    blob: bytes
    guard: str

    @property
    def generation(self) -> int:
        from signer_core.vault import sealed

        return sealed.parse(self.blob).generation


def snapshot(path: Path) -> Snapshot:
    blob = (path / "state" / "wallet.sealed").read_bytes()
    guard_file = path / "secrets" / "generation"
    guard = guard_file.read_text().strip() if guard_file.exists() else ""
    return Snapshot(blob, guard)


def open_state(path: Path) -> dict[str, Any]:
    """The wallet's plaintext state, opened with the admin wrap (raises if it cannot open)."""
    from functions.local.datadir import DataDir
    from signer_core.vault import sealed

    folder = DataDir(path)
    found = folder.store().read()
    if found is None:
        raise RuntimeError(f"{path} has no sealed state")
    opened = sealed.open_with_admin(
        sealed.parse(found[0]),
        root_secret=folder.secrets().root_secret,
        expected_wallet_id=folder.config().wallet_id,
        min_generation=folder.guard().high_water(),
    )
    return dict(opened.state)


@dataclass
class WalletAudit:
    """The wallet's proofs against the mint's own records."""

    balance: int  # what the wallet would report (spendable proofs, sat)
    unspent: int  # of all proofs held, the amount the mint says is UNSPENT
    spent: int  # held proofs the mint says are SPENT (phantom balance if spendable)
    pending: int  # held proofs the mint says are PENDING (in a melt)
    phantom: int  # spendable proofs that are not UNSPENT at the mint
    outgoing: int  # settled outgoing transactions in the wallet's log
    ledger: dict[str, int]  # ledger entries by status

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def audit(path: Path) -> WalletAudit:
    """Open the state and check every proof it holds with the mint (NUT-07)."""
    from signer_core.wallets.cashu import dhke

    state = open_state(path)
    data = state["backend_data"]
    proofs = list(data.get("proofs", []))
    ys = [dhke.point_hex(dhke.secret_point(p["secret"])) for p in proofs]
    states: dict[str, str] = {}
    for i in range(0, len(ys), 500):
        res = httpx.post(
            f"{data['mint_url']}/v1/checkstate", json={"Ys": ys[i : i + 500]}, timeout=30
        )
        res.raise_for_status()
        states.update({s["Y"]: s["state"] for s in res.json()["states"]})
    spendable = [(p, y) for p, y in zip(proofs, ys, strict=True) if not p.get("reserved")]
    ledger: dict[str, int] = {}
    for entry in state.get("ledger", {}).values():
        ledger[entry["status"]] = ledger.get(entry["status"], 0) + 1
    txs = data.get("txs", [])
    return WalletAudit(
        balance=sum(int(p["amount"]) for p, _ in spendable),
        unspent=sum(int(p["amount"]) for p, y in zip(proofs, ys, strict=True)
                    if states.get(y) == "UNSPENT"),
        spent=sum(int(p["amount"]) for p, y in zip(proofs, ys, strict=True)
                  if states.get(y) == "SPENT"),
        pending=sum(int(p["amount"]) for p, y in zip(proofs, ys, strict=True)
                    if states.get(y) == "PENDING"),
        phantom=sum(int(p["amount"]) for p, y in spendable if states.get(y) != "UNSPENT"),
        outgoing=sum(1 for t in txs if t.get("type") == "outgoing" and t.get("state") == "settled"),
        ledger=ledger,
    )  # fmt: skip


def has_traceback(text: bytes | str) -> bool:
    raw = text.encode("utf-8", "replace") if isinstance(text, str) else text
    return any(marker in raw for marker in TRACEBACK_MARKERS[:2])


def funded_wallet(
    path: Path, mint_url: str, sats: int, *extra: str, name: str = "app"
) -> tuple[LocalWallet, Any]:
    """A new wallet folder with one connection, funded from the test mint."""
    wallet = LocalWallet.create(path, mint_url)
    app = wallet.add_app(*extra, name=name)
    if sats:
        wallet.fund(app, sats, timeout=60)
    return wallet, app


def report(title: str, figures: dict[str, Any]) -> None:
    """Print the figures as one JSON line (for docs) after a human-readable block."""
    print(f"== {title} ==")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    print(json.dumps({"title": title, "at": time.strftime("%Y-%m-%d %H:%M:%S"), **figures}))
