"""A minimal BOLT-11 invoice decoder: what NWC needs, nothing more.

We decode the payment hash, amount, timestamp, expiry, description / description hash,
payment secret and explicit payee, so the signer can check budgets, fill transaction objects
and detect expired invoices. We do not verify the invoice signature or read routing hints,
fallback addresses or features: the wallet backend that pays does that.

Written here instead of using the PyPI ``bolt11`` package because that one pulls extra
dependencies and their import cost onto the cold-start path; bech32 plus a tag walk is
about a hundred lines of stdlib.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_EXPIRY", "Invoice", "InvalidInvoice", "decode"]

DEFAULT_EXPIRY = 3600
DEFAULT_MIN_FINAL_CLTV_EXPIRY = 18
MAX_INVOICE_LENGTH = 8192  # far above real invoices; bounds the work on hostile input
MAX_AMOUNT_MSAT = 21_000_000 * 100_000_000_000  # 21M BTC

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_MAP = {c: i for i, c in enumerate(_CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)

# Longest first: "bcrt" must win over "bc", "tbs" over "tb".
_NETWORKS = (
    ("bcrt", "regtest"),
    ("tbs", "signet"),
    ("bc", "mainnet"),
    ("tb", "testnet"),
    ("sb", "simnet"),
)
# msat per unit of the amount, for each multiplier ("" = whole bitcoin). "p" is 0.1 msat.
_MSAT_PER_UNIT = {"": 100_000_000_000, "m": 100_000_000, "u": 100_000, "n": 100}

_TIMESTAMP_GROUPS = 7  # 35 bits
_SIGNATURE_GROUPS = 104  # 520 bits: 64-byte signature + recovery id
_CHECKSUM_GROUPS = 6

_TAG_P = 1
_TAG_X = 6
_TAG_D = 13
_TAG_S = 16
_TAG_N = 19
_TAG_H = 23
_TAG_C = 24


class InvalidInvoice(ValueError):
    """A string that is not a well-formed BOLT-11 invoice."""


@dataclass(frozen=True, slots=True)
class Invoice:
    payment_hash: str  # hex
    amount_msat: int | None  # None: "any amount" (donation-style) invoice
    timestamp: int  # unix seconds
    expiry: int  # seconds after timestamp
    description: str | None
    description_hash: str | None  # hex
    network: str  # mainnet | testnet | signet | regtest | simnet
    payment_secret: str | None = None  # hex
    payee: str | None = None  # hex compressed pubkey, only when an explicit n field is present
    min_final_cltv_expiry: int = DEFAULT_MIN_FINAL_CLTV_EXPIRY
    bolt11: str = ""  # the normalized (lower-case, prefix-stripped) invoice

    @property
    def expires_at(self) -> int:
        return self.timestamp + self.expiry

    def is_expired(self, now: int) -> bool:
        return now >= self.expires_at


def _polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GENERATOR[i]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _bech32_decode(text: str) -> tuple[str, list[int]]:
    """BIP-173 bech32 (not bech32m) without the 90-character limit."""
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        raise InvalidInvoice("invoice contains invalid characters")
    if text.lower() != text and text.upper() != text:
        raise InvalidInvoice("invoice mixes upper and lower case")
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1:
        raise InvalidInvoice("invoice has no bech32 separator '1'")
    hrp, data_part = text[:sep], text[sep + 1 :]
    try:
        data = [_CHARSET_MAP[c] for c in data_part]
    except KeyError as exc:
        raise InvalidInvoice(f"invalid bech32 character {exc.args[0]!r}") from None
    if len(data) < _TIMESTAMP_GROUPS + _SIGNATURE_GROUPS + _CHECKSUM_GROUPS:
        raise InvalidInvoice("invoice is too short")
    if _polymod(_hrp_expand(hrp) + data) != 1:
        raise InvalidInvoice("invalid bech32 checksum")
    return hrp, data[:-_CHECKSUM_GROUPS]


def _to_int(groups: list[int]) -> int:
    value = 0
    for g in groups:
        value = value << 5 | g
    return value


def _to_bytes(groups: list[int]) -> bytes:
    """5-bit groups to bytes; trailing bits that do not fill a byte are padding and dropped."""
    nbits = len(groups) * 5
    return (_to_int(groups) >> (nbits % 8)).to_bytes(nbits // 8, "big")


def _parse_hrp(hrp: str) -> tuple[str, int | None]:
    if not hrp.startswith("ln"):
        raise InvalidInvoice("not a lightning invoice (prefix must start with 'ln')")
    rest = hrp[2:]
    for prefix, network in _NETWORKS:
        if rest.startswith(prefix):
            return network, _parse_amount(rest[len(prefix) :])
    raise InvalidInvoice(f"unknown currency prefix in {hrp!r}")


def _parse_amount(amount: str) -> int | None:
    if not amount:
        return None
    multiplier = amount[-1] if amount[-1] in "munp" else ""
    digits = amount[:-1] if multiplier else amount
    if not digits or not digits.isascii() or not digits.isdigit():
        raise InvalidInvoice(f"invalid amount {amount!r}")
    if digits[0] == "0":
        raise InvalidInvoice(f"invalid amount {amount!r}: zero or leading zeros")
    value = int(digits)
    if multiplier == "p":
        if value % 10:
            raise InvalidInvoice(f"amount {amount!r} is not a whole number of millisatoshis")
        msat = value // 10
    else:
        msat = value * _MSAT_PER_UNIT[multiplier]
    if msat > MAX_AMOUNT_MSAT:
        raise InvalidInvoice(f"amount {amount!r} exceeds 21 million bitcoin")
    return msat


def decode(invoice: str) -> Invoice:
    """Decode a BOLT-11 string (optionally ``lightning:``-prefixed, either case)."""
    if not isinstance(invoice, str):
        raise InvalidInvoice("invoice must be a string")
    text = invoice.strip()
    if text[:10].lower() == "lightning:":
        text = text[10:]
    if not text:
        raise InvalidInvoice("empty invoice")
    if len(text) > MAX_INVOICE_LENGTH:
        raise InvalidInvoice(f"invoice longer than {MAX_INVOICE_LENGTH} characters")
    hrp, data = _bech32_decode(text)
    network, amount_msat = _parse_hrp(hrp)

    timestamp = _to_int(data[:_TIMESTAMP_GROUPS])
    fields = data[_TIMESTAMP_GROUPS:-_SIGNATURE_GROUPS]

    payment_hash: str | None = None
    payment_secret: str | None = None
    description: str | None = None
    description_hash: str | None = None
    payee: str | None = None
    expiry = DEFAULT_EXPIRY
    min_final_cltv = DEFAULT_MIN_FINAL_CLTV_EXPIRY
    seen_x = seen_c = False

    pos = 0
    while pos < len(fields):
        if pos + 3 > len(fields):
            raise InvalidInvoice("truncated tagged field")
        tag = fields[pos]
        length = fields[pos + 1] << 5 | fields[pos + 2]
        value = fields[pos + 3 : pos + 3 + length]
        if len(value) != length:
            raise InvalidInvoice("tagged field runs past the end of the invoice")
        pos += 3 + length
        # Fixed-length fields with a wrong length are skipped (BOLT-11 examples); the first
        # well-formed one of each type wins (writers put the preferred field first).
        if tag == _TAG_P:
            if length == 52 and payment_hash is None:
                payment_hash = _to_bytes(value).hex()
        elif tag == _TAG_S:
            if length == 52 and payment_secret is None:
                payment_secret = _to_bytes(value).hex()
        elif tag == _TAG_H:
            if length == 52 and description_hash is None:
                description_hash = _to_bytes(value).hex()
        elif tag == _TAG_N:
            if length == 53 and payee is None:
                payee = _to_bytes(value).hex()
        elif tag == _TAG_D:
            if description is None:
                try:
                    description = _to_bytes(value).decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidInvoice("description is not valid UTF-8") from None
        elif tag == _TAG_X:
            if not seen_x:
                seen_x = True
                expiry = _to_int(value)
        elif tag == _TAG_C and not seen_c:
            seen_c = True
            min_final_cltv = _to_int(value)
        # r, f, 9, m and unknown fields are not needed here.

    if payment_hash is None:
        raise InvalidInvoice("invoice has no payment hash (p field)")
    if expiry >= 2**32 or min_final_cltv >= 2**32:
        raise InvalidInvoice("expiry or min_final_cltv_expiry out of range")
    return Invoice(
        payment_hash=payment_hash,
        amount_msat=amount_msat,
        timestamp=timestamp,
        expiry=expiry,
        description=description,
        description_hash=description_hash,
        network=network,
        payment_secret=payment_secret,
        payee=payee,
        min_final_cltv_expiry=min_final_cltv,
        bolt11=text.lower(),
    )
