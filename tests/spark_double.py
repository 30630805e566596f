"""A test double of the breez-sdk-spark surface the Spark adapter uses, built on the REAL SDK.

- Every request the adapter sends and every response the double returns is a real
  ``breez_sdk_spark`` record/enum and goes through the SDK's own FFI converters
  (lower -> lift), so a renamed field or a wrong type fails here as it would in Rust.
- At import, every ``BreezSdk`` method the adapter calls must exist on the real class with
  the same parameter names, and ``connect`` must take ``request``: the double cannot drift.
- Errors are the SDK's real exception classes (``SdkError.InsufficientFunds``, ...).

The model separates the operators ("remote": balance, transfers, held incoming payments)
from the wallet's local storage (a JSON file in the SDK's storage folder), because that is
what the adapter's exactly-once logic depends on: ``get_payment`` reads local storage only,
``sync_wallet`` pulls the remote into it, and the operators refuse a reused transfer id.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import breez_sdk_spark as b
from coincurve import PrivateKey

from signer_core.protocol.bolt11 import decode

_FFI = b.breez_sdk_spark

# BreezSdk methods the adapter calls -> their parameter names (besides self)
ADAPTER_CALLS: dict[str, list[str]] = {
    "get_info": ["request"],
    "receive_payment": ["request"],
    "prepare_send_payment": ["request"],
    "send_payment": ["request"],
    "get_payment": ["request"],
    "list_payments": ["request"],
    "sync_wallet": ["request"],
    "register_lightning_address": ["request"],
    "claim_htlc_payment": ["request"],
    "sign_message": ["request"],
    "register_webhook": ["request"],
    "unregister_webhook": ["request"],
    "list_webhooks": [],
    "disconnect": [],
}
IDENTITY_KEY = PrivateKey(b"\x07" * 32)  # the double's Spark identity key (signs messages)
IDENTITY_PUBKEY = IDENTITY_KEY.public_key.format(compressed=True).hex()


def _params(fn: Any) -> list[str]:
    return [p for p in inspect.signature(fn).parameters if p != "self"]


def check_surface() -> None:
    """The real SDK still has every call the adapter makes, with the same parameters."""
    for name, params in ADAPTER_CALLS.items():
        real = getattr(b.BreezSdk, name, None)
        assert real is not None, f"breez_sdk_spark.BreezSdk has no {name}()"
        assert _params(real) == params, f"BreezSdk.{name}{_params(real)} != {params}"
        assert _params(getattr(FakeSdk, name)) == params, f"FakeSdk.{name} drifted"
    assert _params(b.connect) == ["request"]


def real(obj: Any) -> Any:
    """Round-trip a record/enum through the real SDK's FFI converter (type-checks it deeply)."""
    for cls in type(obj).__mro__:
        conv = getattr(_FFI, f"_UniffiConverterType{cls.__name__.split('.')[0]}", None)
        if conv is not None:
            return conv.lift(conv.lower(obj))
    raise AssertionError(f"{type(obj).__name__} is not an SDK type")


# --- bolt11 invoices signed like a node would --------------------------------------------

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values: list[int]) -> int:
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def _groups(data: bytes) -> list[int]:
    acc, bits, out = 0, 0, []
    for byte in data:
        acc, bits = (acc << 8) | byte, bits + 8
        while bits >= 5:
            bits -= 5
            out.append((acc >> bits) & 31)
    if bits:
        out.append((acc << (5 - bits)) & 31)
    return out


def _int_groups(value: int, width: int = 0) -> list[int]:
    out = []
    while value or len(out) < max(width, 1):
        out.append(value & 31)
        value >>= 5
    return out[::-1]


def _field(tag: str, groups: list[int]) -> list[int]:
    return [_CHARSET.index(tag), *_int_groups(len(groups), 2), *groups]


def make_bolt11(
    amount_msat: int | None,
    *,
    payment_hash: bytes | None = None,
    description: str = "test",
    expiry: int = 3600,
    timestamp: int | None = None,
    network: str = "bcrt",
    key: bytes = b"\x01" * 32,
) -> tuple[str, str]:
    """(bolt11, preimage hex): a well-formed, node-signed invoice."""
    preimage = os.urandom(32)
    phash = payment_hash or hashlib.sha256(preimage).digest()
    hrp = "ln" + network + (f"{amount_msat * 10}p" if amount_msat else "")
    data = _int_groups(timestamp or int(time.time()), 7)
    data += _field("p", _groups(phash)) + _field("s", _groups(os.urandom(32)))
    data += _field("d", _groups(description.encode())) + _field("x", _int_groups(expiry))
    data += _field("9", [16, 8, 0])  # var_onion_optin + payment_secret required
    msg = hrp.encode() + bytes(_to_bytes(data))
    sig = PrivateKey(key).sign_recoverable(hashlib.sha256(msg).digest(), hasher=None)
    data += _groups(sig)
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data
    poly = _polymod(values + [0] * 6) ^ 1
    checksum = [(poly >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in data + checksum), preimage.hex()


def _to_bytes(groups: list[int]) -> list[int]:
    acc, bits, out = 0, 0, []
    for g in groups:
        acc, bits = (acc << 5) | g, bits + 5
        while bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    if bits:
        out.append((acc << (8 - bits)) & 0xFF)
    return out


# --- the model ------------------------------------------------------------------------------


@dataclass
class FakeSpark:
    """The operators and the service provider, shared by every SDK build of one test."""

    balance: int = 0
    fee_sats: int = 2
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)  # transfer id -> record
    held: list[dict[str, Any]] = field(default_factory=list)  # incoming, waiting for a claim
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)  # our bolt11s by hash
    unreachable: bool = False
    hang: bool = False
    lose_send_answer: bool = False  # the transfer happens, the answer never arrives
    send_status: str = "COMPLETED"
    fail_with: Exception | None = None  # raised by every call that reaches the operators
    api_key_required: bool = True
    connects: list[Any] = field(default_factory=list)
    sends: int = 0
    claims: int = 0  # HTLCs claimed (hold invoices settled)
    webhooks: dict[str, Any] = field(default_factory=dict)  # id -> RegisterWebhookRequest

    async def connect(self, request: Any) -> FakeSdk:
        assert isinstance(request, b.ConnectRequest)
        real(request.config)
        assert isinstance(request.seed, b.Seed.MNEMONIC) and request.seed.mnemonic
        if request.config.network == b.Network.MAINNET and not request.config.api_key:
            raise b.SdkError.Generic("Missing Breez API key")
        self.connects.append(request)
        return FakeSdk(self, Path(request.storage_dir))

    async def network(self) -> None:
        if self.hang:
            await asyncio.sleep(3600)
        if self.unreachable:
            raise b.SdkError.NetworkError("error sending request: dns error")
        if self.fail_with is not None:
            raise self.fail_with

    def pay_in(self, bolt11: str, *, now: int | None = None) -> str:
        """Someone pays one of our invoices: the provider holds it until a sync claims it."""
        inv = decode(bolt11)
        record = self.invoices[inv.payment_hash]
        pid = f"recv-{inv.payment_hash[:16]}"
        self.held.append({**record, "id": pid, "timestamp": now or int(time.time())})
        return pid

    def return_htlc(self, payment_hash: str) -> None:
        """A held HODL payment nobody claimed expires: the HTLC goes back to the payer."""
        for rec in [*self.held, *self.payments.values()]:
            if rec["payment_hash"] == payment_hash and rec["status"] == "PENDING":
                rec["status"], rec["htlc_status"] = "FAILED", "RETURNED"


HTLC_HOLD_S = 3600  # how long the service provider holds an HTLC (its expiry_time)


def _payment(rec: dict[str, Any]) -> Any:
    htlc = b.SparkHtlcDetails(
        payment_hash=rec["payment_hash"],
        preimage=rec.get("preimage"),
        expiry_time=rec["timestamp"] + HTLC_HOLD_S,
        status=getattr(b.SparkHtlcStatus, rec.get("htlc_status", "PREIMAGE_SHARED")),
    )
    details = b.PaymentDetails.LIGHTNING(
        rec.get("description"), rec["invoice"], "02" + "11" * 32, htlc, None, None, None, None
    )
    return real(
        b.Payment(
            id=rec["id"],
            payment_type=getattr(b.PaymentType, rec["type"]),
            status=getattr(b.PaymentStatus, rec["status"]),
            amount=rec["amount"],
            fees=rec["fees"],
            timestamp=rec["timestamp"],
            method=b.PaymentMethod.LIGHTNING,
            details=details,
            conversion_details=None,
        )
    )


class FakeSdk:
    """One connected SDK: reads and writes the local storage file in its storage folder."""

    def __init__(self, spark: FakeSpark, folder: Path) -> None:
        self.spark = spark
        self.file = folder / "regtest" / "fake" / "storage.json"
        if not self.file.exists():
            self.file.parent.mkdir(parents=True, exist_ok=True)
            self._save({"balance": 0, "payments": {}})

    def _load(self) -> dict[str, Any]:
        return dict(json.loads(self.file.read_text()))

    def _save(self, local: dict[str, Any]) -> None:
        self.file.write_text(json.dumps(local, sort_keys=True))

    async def get_info(self, request: Any) -> Any:
        assert isinstance(real(request), b.GetInfoRequest) and request.ensure_synced is None
        return real(
            b.GetInfoResponse(
                identity_pubkey=IDENTITY_PUBKEY,
                balance_sats=self._load()["balance"],
                token_balances={},
                recoverable_funds_sats=0,
            )
        )

    async def receive_payment(self, request: Any) -> Any:
        method = real(request).payment_method
        if method.is_spark_address():
            address = b.ReceivePaymentResponse(
                payment_request="sparkrt1fake", fee=0, cross_chain_info=None
            )
            return real(address)
        assert method.is_bolt11_invoice()
        await self.spark.network()
        hodl = method.payment_hash is not None  # the SDK's HODL invoice: held until claimed
        bolt11, preimage = make_bolt11(
            method.amount_sats * 1000, description=method.description,
            expiry=method.expiry_secs or 3600,
            payment_hash=bytes.fromhex(method.payment_hash) if hodl else None,
        )  # fmt: skip
        inv = decode(bolt11)
        self.spark.invoices[inv.payment_hash] = {
            "invoice": bolt11, "payment_hash": inv.payment_hash,
            "preimage": None if hodl else preimage, "amount": method.amount_sats, "fees": 0,
            "type": "RECEIVE", "status": "PENDING" if hodl else "COMPLETED",
            "description": method.description,
            "htlc_status": "WAITING_FOR_PREIMAGE" if hodl else "PREIMAGE_SHARED",
        }  # fmt: skip
        return real(b.ReceivePaymentResponse(payment_request=bolt11, fee=0, cross_chain_info=None))

    async def prepare_send_payment(self, request: Any) -> Any:
        real(request)
        await self.spark.network()
        bolt11 = request.payment_request.input
        inv = decode(bolt11)
        amount = inv.amount_msat // 1000 if inv.amount_msat else request.amount
        source = b.PaymentRequestSource(bip_21_uri=None, bip_353_address=None)
        details = b.Bolt11InvoiceDetails(
            amount_msat=inv.amount_msat, description=inv.description, description_hash=None,
            expiry=inv.expiry, invoice=b.Bolt11Invoice(bolt11=bolt11, source=source),
            min_final_cltv_expiry_delta=18, network=b.BitcoinNetwork.REGTEST,
            payee_pubkey="02" + "11" * 32, payment_hash=inv.payment_hash,
            payment_secret=inv.payment_secret or "00" * 32, routing_hints=[],
            timestamp=inv.timestamp,
        )  # fmt: skip
        method = b.SendPaymentMethod.BOLT11_INVOICE(details, None, self.spark.fee_sats)
        return real(
            b.PrepareSendPaymentResponse(
                payment_method=method,
                amount=amount,
                token_identifier=None,
                conversion_estimate=None,
                fee_policy=b.FeePolicy.FEES_EXCLUDED,
            )  # fmt: skip
        )

    async def send_payment(self, request: Any) -> Any:
        real(request)
        key = request.idempotency_key
        local = self._load()
        if key in local["payments"]:  # the SDK's own idempotency check (local storage)
            return real(b.SendPaymentResponse(payment=_payment(local["payments"][key])))
        await self.spark.network()
        prep = request.prepare_response
        amount, fee = int(prep.amount), prep.payment_method.lightning_fee_sats
        if key in self.spark.payments:
            raise b.SdkError.SparkError("transfer with this id already exists")
        if local["balance"] < amount + fee or self.spark.balance < amount + fee:
            raise b.SdkError.InsufficientFunds(None)
        details = prep.payment_method.invoice_details
        rec = {
            "id": key, "type": "SEND", "status": self.spark.send_status, "amount": amount,
            "fees": fee, "timestamp": int(time.time()), "invoice": details.invoice.bolt11,
            "payment_hash": details.payment_hash, "description": details.description,
            "preimage": "cd" * 32 if self.spark.send_status == "COMPLETED" else None,
        }  # fmt: skip
        self.spark.sends += 1
        self.spark.payments[key] = rec
        if self.spark.send_status != "FAILED":
            self.spark.balance -= amount + fee
        if self.spark.lose_send_answer:
            raise b.SdkError.NetworkError("connection reset while waiting for the answer")
        local["payments"][key] = rec
        local["balance"] = self.spark.balance
        self._save(local)
        return real(b.SendPaymentResponse(payment=_payment(rec)))

    async def get_payment(self, request: Any) -> Any:
        real(request)
        rec = self._load()["payments"].get(request.payment_id)
        if rec is None:
            raise b.SdkError.StorageError("Underlying implementation error: Query returned no rows")
        return real(b.GetPaymentResponse(payment=_payment(rec)))

    async def list_payments(self, request: Any) -> Any:
        real(request)
        rows = list(self._load()["payments"].values())
        if request.type_filter:
            rows = [r for r in rows if getattr(b.PaymentType, r["type"]) in request.type_filter]
        if request.status_filter:
            wanted = request.status_filter
            rows = [r for r in rows if getattr(b.PaymentStatus, r["status"]) in wanted]
        if request.from_timestamp is not None:
            rows = [r for r in rows if r["timestamp"] >= request.from_timestamp]
        if request.to_timestamp is not None:
            rows = [r for r in rows if r["timestamp"] < request.to_timestamp]
        rows.sort(key=lambda r: r["timestamp"], reverse=not request.sort_ascending)
        start = request.offset or 0
        rows = rows[start : start + request.limit] if request.limit is not None else rows[start:]
        return real(b.ListPaymentsResponse(payments=[_payment(r) for r in rows]))

    async def sync_wallet(self, request: Any) -> Any:
        real(request)
        if self.spark.hang:
            await asyncio.sleep(3600)
        if not self.spark.unreachable:  # the real SDK's sync returns quietly when offline
            for rec in self.spark.held:
                self.spark.payments[rec["id"]] = rec
                if rec["status"] == "COMPLETED":  # a held HODL HTLC is not ours until claimed
                    self.spark.balance += rec["amount"]
            self.spark.held.clear()
            local = self._load()
            local["payments"] = dict(self.spark.payments)
            local["balance"] = self.spark.balance
            self._save(local)
        return real(b.SyncWalletResponse())

    async def register_lightning_address(self, request: Any) -> Any:
        real(request)
        await self.spark.network()
        address = f"{request.username}@breez.tips"
        lnurl = b.LnurlInfo(url=f"https://breez.tips/lnurlp/{request.username}", bech32="lnurl1x")
        return real(
            b.LightningAddressInfo(
                description=request.description or "",
                lightning_address=address,
                lnurl=lnurl,
                username=request.username,
            )  # fmt: skip
        )

    async def claim_htlc_payment(self, request: Any) -> Any:
        """Like the SDK: refuse unless the operators hold a claimable HTLC for the hash."""
        real(request)
        await self.spark.network()
        payment_hash = hashlib.sha256(bytes.fromhex(request.preimage)).hexdigest()
        for rec in [*self.spark.held, *self.spark.payments.values()]:
            claimable = rec["status"] == "PENDING" and rec["type"] == "RECEIVE"
            if claimable and rec["payment_hash"] == payment_hash:
                break
        else:
            raise b.SdkError.InvalidInput("No claimable HTLC with the given payment hash")
        rec.update(status="COMPLETED", htlc_status="PREIMAGE_SHARED", preimage=request.preimage)
        self.spark.held = [r for r in self.spark.held if r is not rec]
        self.spark.payments[rec["id"]] = rec
        self.spark.balance += rec["amount"]
        self.spark.claims += 1
        local = self._load()
        local["payments"][rec["id"]] = rec
        local["balance"] = self.spark.balance
        self._save(local)
        return real(b.ClaimHtlcPaymentResponse(payment=_payment(rec)))

    async def sign_message(self, request: Any) -> Any:
        """ECDSA over SHA-256(message) by the identity key, offline, as the SDK does."""
        real(request)
        if request.message.startswith("breez-lnurl:"):
            raise b.SdkError.InvalidInput("reserved message prefix")
        digest = hashlib.sha256(request.message.encode()).digest()
        der = IDENTITY_KEY.sign(digest, hasher=None)
        if request.compact:
            from coincurve.ecdsa import der_to_cdata, serialize_compact

            signature = serialize_compact(der_to_cdata(der)).hex()
        else:
            signature = der.hex()
        return real(b.SignMessageResponse(pubkey=IDENTITY_PUBKEY, signature=signature))

    async def register_webhook(self, request: Any) -> Any:
        real(request)
        await self.spark.network()
        webhook_id = f"wh-{os.urandom(4).hex()}"
        self.spark.webhooks[webhook_id] = request
        return real(b.RegisterWebhookResponse(webhook_id=webhook_id))

    async def list_webhooks(self) -> Any:
        await self.spark.network()
        return [
            real(b.Webhook(id=i, url=r.url, event_types=r.event_types))
            for i, r in self.spark.webhooks.items()
        ]

    async def unregister_webhook(self, request: Any) -> None:
        real(request)
        await self.spark.network()
        if self.spark.webhooks.pop(request.webhook_id, None) is None:
            raise b.SdkError.InvalidInput("unknown webhook")

    async def disconnect(self) -> None:
        return None


check_surface()
