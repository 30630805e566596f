"""A small LNURL-pay client (LUD-01, 06, 12, 16, 17) for NWC-321's `pay`.

It turns a lightning address or an LNURL into one bolt11 and checks that bolt11 before
anyone may pay it: the amount is within the server's min/max, the invoice asks exactly that
amount, and its description hash commits to the server's metadata (LUD-06). Nothing here
moves money; `signer_core.methods.pay` pays the bolt11 through pay_invoice's path.

Outside calls are bounded: https only (plain http only to 127.0.0.1 when the deployment
sets `lnurl_allow_loopback_http`, for tests), no redirects, a short timeout, a response
size cap, and no IP-literal hosts in private, loopback or link-local ranges. httpx goes
through the wallet's own transport where it has one (Pyodide's fetch, signer_core/jsffi.py).
Every failure that depends on the server is PAYMENT_FAILED saying nothing was paid (stored
by the pipeline, so a re-delivered request never pays after the app was told it failed).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from signer_core.protocol.bolt11 import _CHARSET_MAP, _hrp_expand, _polymod
from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.protocol.text import BadJson, loads

CONFIG_ALLOW_LOOPBACK_HTTP = "lnurl_allow_loopback_http"  # wallet_config switch, off by default
TIMEOUT_S = 5.0
MAX_RESPONSE_BYTES = 64 * 1024
MAX_LNURL_CHARS = 2048


@dataclass(frozen=True)
class LnurlOptions:
    transport: Any = None  # an httpx.BaseTransport, or None for httpx's default
    allow_loopback_http: bool = False
    timeout_s: float = TIMEOUT_S
    max_bytes: int = MAX_RESPONSE_BYTES


@dataclass(frozen=True)
class PayRequest:
    """A LUD-06 payRequest, checked."""

    callback: str
    min_msat: int
    max_msat: int
    metadata: str  # the raw string: its sha256 is the invoice's description hash
    comment_allowed: int = 0
    host: str = ""


def _fail(what: str) -> NwcError:
    """PAYMENT_FAILED, which the pipeline stores (request.STICKY_ERRORS): the app is told
    the payment failed, so a re-delivery must not pay once the server answers better."""
    return NwcError(ErrorCode.PAYMENT_FAILED, f"{what}; nothing was paid")


def decode_lnurl(text: str) -> str:
    """A bech32 `lnurl1…` to its URL (LUD-01); BAD_REQUEST if it is not one."""
    text = text.lower()
    if len(text) > MAX_LNURL_CHARS:
        raise NwcError(ErrorCode.BAD_REQUEST, "the LNURL is too long")
    sep = text.rfind("1")
    hrp, data_part = text[:sep], text[sep + 1 :]
    try:
        data = [_CHARSET_MAP[c] for c in data_part]
    except KeyError:
        raise NwcError(ErrorCode.BAD_REQUEST, "the LNURL has an invalid character") from None
    if hrp != "lnurl" or len(data) < 7 or _polymod(_hrp_expand(hrp) + data) != 1:
        raise NwcError(ErrorCode.BAD_REQUEST, "the LNURL is not valid bech32 (bad checksum)")
    acc, bits, out = 0, 0, bytearray()
    for value in data[:-6]:
        acc = (acc << 5) | value
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    try:
        url = out.decode("ascii")
    except UnicodeDecodeError:
        raise NwcError(ErrorCode.BAD_REQUEST, "the LNURL does not hold a URL") from None
    if not url.lower().startswith(("https://", "http://")):
        raise NwcError(ErrorCode.BAD_REQUEST, "the LNURL does not hold an http(s) URL")
    return url


def address_url(address: str, options: LnurlOptions) -> str:
    """LUD-16: `user@domain` -> https://domain/.well-known/lnurlp/user."""
    user, _, domain = address.partition("@")
    scheme = "https"
    if options.allow_loopback_http and _is_loopback(urlsplit(f"//{domain}").hostname or ""):
        scheme = "http"
    return f"{scheme}://{domain}/.well-known/lnurlp/{user}"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_url(url: str, options: LnurlOptions) -> str:
    """Refuse URLs we must not call for a stranger; returns the host for messages."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password:
        raise _fail(f"the LNURL server address {url[:80]!r} is not acceptable")
    loopback = _is_loopback(host)
    if parts.scheme == "http" and loopback and options.allow_loopback_http:
        return host
    if parts.scheme != "https":
        raise _fail(f"the LNURL server {host} must be reached over https")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise _fail(f"the LNURL server {host} is not a public host") from None
        return host
    if not ip.is_global:
        raise _fail(f"the LNURL server {host} is not a public address")
    return host


def _get_json(url: str, options: LnurlOptions) -> dict[str, Any]:
    import httpx  # lazy: only a pay to an address or LNURL needs it

    host = check_url(url, options)
    client = httpx.Client(
        transport=options.transport,
        timeout=httpx.Timeout(options.timeout_s),
        follow_redirects=False,
        headers={"user-agent": "nwc-signer", "accept": "application/json"},
    )
    try:
        with client.stream("GET", url) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > options.max_bytes:
                    raise _fail(f"the LNURL server {host} sent more than {options.max_bytes} bytes")
            status = response.status_code
    except httpx.HTTPError as exc:
        raise _fail(f"could not reach the LNURL server {host} ({type(exc).__name__})") from None
    finally:
        if options.transport is None:  # a shared transport is closed by its owner
            client.close()
    try:
        raw = loads(bytes(body).decode("utf-8"))
    except (BadJson, UnicodeDecodeError):
        raise _fail(f"the LNURL server {host} answered HTTP {status} without valid JSON") from None
    if not isinstance(raw, dict):
        raise _fail(f"the LNURL server {host} did not answer with a JSON object")
    if str(raw.get("status", "")).upper() == "ERROR":
        reason = str(raw.get("reason", ""))[:200]
        raise _fail(f"the LNURL server {host} refused: {reason or 'no reason given'}")
    if not 200 <= status < 300:
        raise _fail(f"the LNURL server {host} answered HTTP {status}")
    return raw


def _msat(raw: dict[str, Any], key: str, host: str) -> int:
    value = raw.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _fail(f"the LNURL server {host} sent no valid {key}")
    return value


def fetch_pay_request(url: str, options: LnurlOptions) -> PayRequest:
    """GET the LNURL-pay endpoint and check its payRequest (LUD-06)."""
    raw = _get_json(url, options)
    host = check_url(url, options)
    if raw.get("tag") != "payRequest":
        raise _fail(f"the LNURL at {host} is not a pay request (tag {str(raw.get('tag'))[:32]!r})")
    callback, metadata = raw.get("callback"), raw.get("metadata")
    if not isinstance(callback, str) or not isinstance(metadata, str):
        raise _fail(f"the LNURL server {host} sent no callback or metadata")
    low, high = _msat(raw, "minSendable", host), _msat(raw, "maxSendable", host)
    if low > high:
        raise _fail(f"the LNURL server {host} has minSendable above maxSendable")
    comment = raw.get("commentAllowed", 0)
    comment_allowed = comment if isinstance(comment, int) and not isinstance(comment, bool) else 0
    check_url(callback, options)
    return PayRequest(callback, low, high, metadata, max(comment_allowed, 0), host)


def request_invoice(
    pay: PayRequest, amount_msat: int, options: LnurlOptions, comment: str | None = None
) -> str:
    """Call the callback for `amount_msat` and return its bolt11, checked against the
    amount and the metadata hash (LUD-06); the comment (LUD-12) only where allowed."""
    if not pay.min_msat <= amount_msat <= pay.max_msat:
        raise _fail(
            f"{pay.host} accepts {pay.min_msat} to {pay.max_msat} msat, not {amount_msat} msat"
        )
    query: dict[str, str] = {"amount": str(amount_msat)}
    if comment:
        if len(comment) > pay.comment_allowed:
            raise _fail(
                f"{pay.host} accepts payer notes of at most {pay.comment_allowed} characters"
            )
        query["comment"] = comment
    parts = urlsplit(pay.callback)
    pairs = [*parse_qsl(parts.query, keep_blank_values=True), *query.items()]
    answer = _get_json(urlunsplit(parts._replace(query=urlencode(pairs))), options)
    invoice = answer.get("pr")
    if not isinstance(invoice, str):
        raise _fail(f"the LNURL server {pay.host} sent no invoice")
    check_invoice(invoice, amount_msat, pay)
    return invoice.lower()


def check_invoice(invoice: str, amount_msat: int, pay: PayRequest) -> None:
    """The server's bolt11 must ask exactly the amount and commit to its metadata."""
    from signer_core.protocol.bolt11 import InvalidInvoice, decode

    try:
        decoded = decode(invoice)
    except InvalidInvoice as exc:
        raise _fail(f"the invoice from {pay.host} is not valid: {exc}") from None
    if decoded.amount_msat != amount_msat:
        raise _fail(
            f"the invoice from {pay.host} asks {decoded.amount_msat} msat, not the "
            f"{amount_msat} msat requested"
        )
    expected = hashlib.sha256(pay.metadata.encode("utf-8")).hexdigest()
    if decoded.description_hash != expected:
        raise _fail(f"the invoice from {pay.host} does not commit to its metadata (LUD-06)")
