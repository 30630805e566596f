"""What NWC-321's `pay` is asked to pay: a BIP-321 URI, or the forms apps paste instead.

Accepted: `bitcoin:[address]?lightning=<bolt11>&lno=<offer>&amount=<BTC>…` (BIP-321),
`lightning:<bolt11|LNURL|address>` (LUD-01/17), a bare bolt11, a bare bech32 `lnurl1…`,
`lnurlp://…` (LUD-17), a lightning address `user@domain` (LUD-16) and a bare BOLT12 offer
`lno1…`. The result lists every instruction found; `signer_core.methods.pay` picks the one
the backend can pay. Parsing never touches the network. Every refusal is an NwcError whose
code is NWC-321's: BAD_REQUEST for malformed input, UNSUPPORTED_PAYMENT_INSTRUCTION when
nothing in it is payable over Lightning (e.g. an on-chain-only URI).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from signer_core.protocol.errors import ErrorCode, NwcError

MAX_URI_CHARS = 16384  # bolt11 is capped at 8192; room for an offer and an address beside it
MSAT_PER_BTC = 100_000_000_000
_BTC_AMOUNT = re.compile(r"^[0-9]{1,8}(\.[0-9]{1,8})?$")
_ADDRESS_USER = re.compile(r"^[a-z0-9\-_.+]{1,64}$")
_DOMAIN = re.compile(r"^[a-z0-9\-.]{1,253}(:[0-9]{1,5})?$")
_ONCHAIN = re.compile(
    r"^([13mn2][1-9A-HJ-NP-Za-km-z]{25,34}|(bc|tb|bcrt|BC|TB|BCRT)1[0-9a-zA-Z]{8,87})$"
)
_BOLT11_PREFIXES = ("lnbc", "lntb", "lntbs", "lnsb", "lnbcrt")
# BIP-321 keys we act on; other keys are ignored unless they carry the `req-` prefix.
_KNOWN_KEYS = frozenset({"amount", "label", "message", "lightning", "lno", "pop"})


@dataclass(frozen=True)
class PaymentInstructions:
    """The Lightning instructions of one URI (any may be absent, never all)."""

    bolt11: str | None = None  # lowercase
    lnurl: str | None = None  # the LNURL-pay URL (bech32 LNURL decoded, or lnurlp:// mapped)
    lightning_address: str | None = None  # user@domain, lowercase
    offer: str | None = None  # BOLT12 `lno1…`, lowercase
    onchain_address: str | None = None
    amount_msat: int | None = None  # the URI's own `amount`, if any


def bad(message: str) -> NwcError:
    return NwcError(ErrorCode.BAD_REQUEST, message)


def parse(text: str) -> PaymentInstructions:
    """The payment instructions in `text`; raises NwcError (BAD_REQUEST or
    UNSUPPORTED_PAYMENT_INSTRUCTION) for anything that is not one."""
    text = text.strip()
    if not text:
        raise bad("params.payment is empty")
    if len(text) > MAX_URI_CHARS:
        raise bad(f"params.payment is longer than {MAX_URI_CHARS} characters")
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        raise bad("params.payment contains characters a payment URI cannot hold")
    lowered = text.lower()
    if lowered.startswith("bitcoin:"):
        return _bitcoin_uri(text[len("bitcoin:") :])
    if lowered.startswith("lightning:"):
        return _single(text[len("lightning:") :])
    return _single(text)


def _single(text: str) -> PaymentInstructions:
    """One instruction without a `bitcoin:` wrapper."""
    from signer_core.protocol.lnurl import decode_lnurl

    lowered = text.lower()
    if lowered.startswith("lnurl1"):
        return PaymentInstructions(lnurl=decode_lnurl(lowered))
    if lowered.startswith("lnurlp://"):
        return PaymentInstructions(lnurl="https://" + text[len("lnurlp://") :])
    if lowered.startswith("lno1"):
        return PaymentInstructions(offer=lowered)
    if lowered.startswith(_BOLT11_PREFIXES):
        return PaymentInstructions(bolt11=lowered)
    if "@" in lowered:
        return PaymentInstructions(lightning_address=lightning_address(lowered))
    if _ONCHAIN.match(text):
        raise NwcError(
            ErrorCode.UNSUPPORTED_PAYMENT_INSTRUCTION,
            "this looks like an on-chain bitcoin address: this wallet pays over Lightning only "
            "(a bolt11 invoice, a lightning address, an LNURL-pay or a BIP-321 URI with "
            "lightning=)",
        )
    raise bad(
        "params.payment is not a BIP-321 URI, a bolt11 invoice, a lightning address, an "
        "LNURL or a BOLT12 offer"
    )


def lightning_address(text: str) -> str:
    """A LUD-16 address `user@domain`, lowercase; BAD_REQUEST if it is not one."""
    user, _, domain = text.lower().partition("@")
    if not _ADDRESS_USER.match(user) or not _DOMAIN.match(domain) or "." not in domain:
        raise bad(f"{text[:80]!r} is not a lightning address (user@domain)")
    return f"{user}@{domain}"


def _bitcoin_uri(rest: str) -> PaymentInstructions:
    address, _, query = rest.partition("?")
    if "#" in query:
        query = query.split("#", 1)[0]
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise bad("the bitcoin: URI's query is malformed") from None
    seen: dict[str, str] = {}
    for raw_key, value in pairs:
        key = raw_key.lower()
        if key.startswith("req-"):
            if key == "req-pop":
                raise bad(
                    "the URI requires a proof-of-payment callback (req-pop), which this "
                    "wallet service cannot open safely; nothing was paid"
                )
            raise bad(f"the URI requires {raw_key[4:64]!r}, which this wallet does not know")
        if key not in _KNOWN_KEYS:
            continue  # other payment instructions (sp=, ark=, bc=…) are not ours to pay
        if key in seen:
            raise bad(f"the URI has {key}= twice")
        seen[key] = value

    amount_msat = _btc_amount(seen["amount"]) if "amount" in seen else None
    bolt11 = lnurl = offer = None
    if seen.get("lightning"):
        single = _single(seen["lightning"])
        if single.offer or single.lightning_address:
            raise bad("lightning= must hold a bolt11 invoice (or an LNURL)")
        bolt11, lnurl = single.bolt11, single.lnurl
    if seen.get("lno"):
        if not seen["lno"].lower().startswith("lno1"):
            raise bad("lno= must hold a BOLT12 offer (lno1…)")
        offer = seen["lno"].lower()
    if not (bolt11 or lnurl or offer):
        raise NwcError(
            ErrorCode.UNSUPPORTED_PAYMENT_INSTRUCTION,
            "this BIP-321 URI has no Lightning instruction (lightning= or lno=): on-chain "
            "payments are not made by this wallet",
        )
    return PaymentInstructions(
        bolt11=bolt11,
        lnurl=lnurl,
        offer=offer,
        onchain_address=address or None,
        amount_msat=amount_msat,
    )


def _btc_amount(text: str) -> int:
    """BIP-321 `amount` (decimal BTC) in msat."""
    if not _BTC_AMOUNT.match(text):
        raise bad(f"amount={text[:32]!r} is not a decimal bitcoin amount")
    whole, _, fraction = text.partition(".")
    sats = int(whole) * 100_000_000 + int((fraction + "00000000")[:8])
    if sats <= 0:
        raise bad("the URI's amount must be positive")
    return sats * 1000


def bolt11_uri(invoice: str) -> str:
    """The BIP-321 form `receive` returns for one bolt11 (no on-chain address)."""
    return f"bitcoin:?lightning={invoice}"
