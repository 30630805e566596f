"""One definition each (issue #8): method names, the transaction shape, invoice -> payment
hash resolution; and the cold get_balance path stays free of pydantic."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

from signer_core import methods
from signer_core.protocol.models import TransactionModel
from signer_core.wallets.base import LIGHTNING_METHOD_NAMES, LIGHTNING_METHODS, Transaction

ROOT = Path(__file__).resolve().parent.parent


def test_method_names_come_from_the_wallet_interface() -> None:
    assert methods.IMPLEMENTED[: len(LIGHTNING_METHOD_NAMES)] == LIGHTNING_METHOD_NAMES
    assert set(methods.IMPLEMENTED) == (
        LIGHTNING_METHODS | set(methods.EXTENSION_METHOD_NAMES) | methods.SIGNER_METHODS
    )
    assert len(set(methods.IMPLEMENTED)) == len(methods.IMPLEMENTED)


def test_wallets_never_import_methods() -> None:
    imports = re.compile(
        r"^\s*(from signer_core\.methods|from signer_core import methods"
        r"|import signer_core\.methods)",
        re.M,
    )
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "signer_core" / "wallets").rglob("*.py")
        if imports.search(path.read_text())
    ]
    assert offenders == []


def test_the_transaction_model_is_the_dataclass() -> None:
    names = [f.name for f in dataclasses.fields(Transaction)]
    assert list(TransactionModel.model_fields) == names
    wire = Transaction("incoming", "settled", "lnbc1", "ab" * 32, 1000).to_nip47()
    TransactionModel.model_validate(wire)  # what a wallet emits is what the model accepts
    required = {n for n, f in TransactionModel.model_fields.items() if f.is_required()}
    assert required == set(wire) == {n for n in names if getattr(Transaction, n, 0) is not None}


def test_invoice_resolution_is_written_once() -> None:
    """Only the method module turns an invoice into a payment hash for a lookup."""
    for backend in ("cashu", "spark"):
        text = (ROOT / "signer_core" / "wallets" / backend / "wallet.py").read_text()
        assert "def lookup_invoice(self, *, payment_hash: str)" in text
        assert "bolt11" not in text.split("def lookup_invoice")[1].split("\n    def ")[0]


def test_cold_get_balance_does_not_import_pydantic() -> None:
    code = (
        "import sys, signer_core.methods.get_balance, signer_core.wallets.cashu.wallet;"
        "heavy = ('pydantic', 'httpx', 'signer_core.protocol.models');"
        "bad = [m for m in heavy if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == ""
