"""App-initiated connection requests: `nostr+walletauth://` (Alby's NWA) and NWC-07 deep links.

Two ways an app asks a wallet for a connection, parsed into one `ConnectionRequest`:

- `nostr+walletauth[+suffix]://<app pubkey>?relay=…&request_methods=…&name=…&icon=…
  &notification_types=…&max_amount=<msat>&budget_renewal=…&expires_at=…&isolated=true
  &return_to=…&metadata=<json>`: the app brings its own key pair (its pubkey becomes the
  connection's client key) and waits on its relays for the new connection's 13194 info event
  tagged with its pubkey (what `NWAClient` of @getalby/sdk 8.0.3 builds and listens for).
- `nostrnwc[+app]://connect?appname=…&appicon=…&callback=…` (NWC-07): the wallet makes the
  key pair and opens `callback` with `value=<nostr+walletconnect URI>`.

The same rules are written once more in JavaScript for the wallet's home page
(onboarding/static/home/src/walletauth.js); both are driven by one vectors file,
tests/fixtures/walletauth_vectors.json, so they cannot drift. Change both with the vectors.
Whether the wallet serves what is asked is decided later, by create_connection.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

from signer_core.protocol.text import BadJson, loads, parse_uint

KNOWN_METHODS: tuple[str, ...] = (
    "pay_invoice", "multi_pay_invoice", "pay_keysend", "multi_pay_keysend", "make_invoice",
    "lookup_invoice", "list_transactions", "get_balance", "get_info", "get_budget",
    "sign_message", "make_hold_invoice", "settle_hold_invoice", "cancel_hold_invoice", "pay",
    "receive",
)  # fmt: skip
ADMIN_METHODS: tuple[str, ...] = ("create_connection", "list_connections", "revoke_connection")
KNOWN_NOTIFICATIONS: tuple[str, ...] = ("payment_received", "payment_sent", "hold_invoice_accepted")
RENEWALS: tuple[str, ...] = ("never", "daily", "weekly", "monthly", "yearly")
DEFAULT_RENEWAL = "monthly"  # create_connection's default when a budget has no renewal
MAX_AMOUNT_MSAT = 10**15  # 10,000 BTC: any real budget, and exact in a JavaScript number
MAX_URI = 8192
MAX_RELAYS = 8
MAX_NAME = 100
MAX_METADATA = 4096
MAX_URL = 2048
ERROR_KINDS: tuple[str, ...] = (
    "bad_uri", "unsupported_draft", "bad_pubkey", "bad_relay", "missing_methods",
    "unknown_method", "forbidden_method", "unknown_notification", "bad_amount", "bad_renewal",
    "bad_expiry", "bad_isolated", "bad_return_to", "bad_name", "bad_metadata",
)  # fmt: skip
SINGLE = ("name", "icon", "request_methods", "notification_types", "max_amount",
          "budget_renewal", "expires_at", "isolated", "return_to", "metadata", "appname",
          "appicon", "callback")  # fmt: skip
# schemes a return address may not use: they run code, read files or leave the app's hands
DENIED_SCHEMES = frozenset({
    "javascript", "data", "file", "blob", "vbscript", "about", "filesystem", "view-source",
    "chrome", "intent", "ftp", "ws", "wss", "mailto", "sms", "tel", "nostr+walletconnect",
})  # fmt: skip
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_SCHEME = re.compile(r"^(nostr\+walletauth|nostrnwc)(?:\+([a-z0-9][a-z0-9.-]{0,63}))?:", re.I)
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):(.*)$", re.S)
_AUTHORITY = re.compile(r"^//([^/?#]*)")
_P = 2**256 - 2**32 - 977  # secp256k1's field


class WalletAuthError(ValueError):
    """A connection request that cannot be approved; `kind` is one of ERROR_KINDS."""

    def __init__(self, kind: str, message: str) -> None:
        assert kind in ERROR_KINDS, kind
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class ConnectionRequest:
    """What an app asks for. `app_pubkey` is None for NWC-07 (the wallet makes the key);
    `methods` None means the wallet's usual set (NWC-07 names none); amounts in msat."""

    kind: str  # "walletauth" | "nostrnwc"
    app_pubkey: str | None
    scheme_suffix: str | None
    name: str
    icon: str | None
    relays: list[str]
    methods: list[str] | None
    notifications: list[str]
    max_amount_msat: int  # 0: no budget
    budget_renewal: str | None  # None when there is no budget
    expires_at: int | None
    isolated: bool
    return_to: str | None  # walletauth's return_to, or NWC-07's callback
    metadata: dict[str, Any] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def create_params(self, pubkey: str) -> dict[str, Any]:
        """create_connection's params (Alby's) for this request and a client pubkey."""
        params: dict[str, Any] = {
            "pubkey": pubkey,
            "name": self.name,
            "request_methods": list(self.methods or []),
            "notification_types": list(self.notifications),
        }
        if self.max_amount_msat:
            params["max_amount"] = self.max_amount_msat
            params["budget_renewal"] = self.budget_renewal or DEFAULT_RENEWAL
        if self.expires_at is not None:
            params["expires_at"] = self.expires_at
        if self.isolated:
            params["isolated"] = True
        if self.metadata is not None:
            params["metadata"] = self.metadata
        return params


def parse_request(text: str, *, now: int) -> ConnectionRequest:
    """Parse and check a walletauth or NWC-07 URI; WalletAuthError says what is wrong."""
    if not isinstance(text, str):
        raise WalletAuthError("bad_uri", "the request must be text")
    uri = text.strip(" \t\r\n")
    if len(uri) > MAX_URI:
        raise WalletAuthError("bad_uri", f"the request is longer than {MAX_URI} characters")
    match = _SCHEME.match(uri)
    if not match:
        raise WalletAuthError("bad_uri", "not a nostr+walletauth:// or nostrnwc:// request")
    kind = "walletauth" if match.group(1).lower() == "nostr+walletauth" else "nostrnwc"
    suffix = match.group(2).lower() if match.group(2) else None
    rest = uri[match.end() :]
    rest = rest.split("#", 1)[0]
    if rest.startswith("//"):
        rest = rest[2:]
    target, _, query = rest.partition("?")
    if target.endswith("/"):
        target = target[:-1]
    params = _query(query)
    one = {k: v[0] for k, v in params.items() if k in SINGLE}
    if kind == "nostrnwc":
        return _deep_link(target, suffix, params, one, now)
    return _walletauth(target, suffix, params, one, now)


def _walletauth(
    target: str, suffix: str | None, params: dict[str, list[str]], one: dict[str, str], now: int
) -> ConnectionRequest:
    if "request_methods" not in one and ("secret" in params or "required_commands" in params):
        raise WalletAuthError("unsupported_draft", "this is the older NWA draft (secret, "
                              "required_commands); ask the app for a request with "
                              "request_methods")  # fmt: skip
    if not _HEX64.match(target):
        raise WalletAuthError("bad_pubkey", "the app's public key must be 64 hex characters")
    pubkey = target.lower()
    if not _on_curve(int(pubkey, 16)):
        raise WalletAuthError("bad_pubkey", "the app's public key is not a valid secp256k1 key")
    relays = _relays(params.get("relay", []))
    if not relays:
        raise WalletAuthError("bad_relay", "the request names no relay")
    methods = _words(one.get("request_methods", ""))
    if not methods:
        raise WalletAuthError("missing_methods", "the request names no request_methods")
    admin = [m for m in methods if m in ADMIN_METHODS]
    if admin:
        raise WalletAuthError("forbidden_method", "an app cannot be allowed to manage "
                              f"connections ({', '.join(admin)})")  # fmt: skip
    unknown = [m for m in methods if m not in KNOWN_METHODS]
    if unknown:
        listed = ", ".join(_short(m) for m in unknown)
        raise WalletAuthError("unknown_method", f"unknown methods: {listed}")
    notifications = _words(one.get("notification_types", ""))
    unknown = [n for n in notifications if n not in KNOWN_NOTIFICATIONS]
    if unknown:
        raise WalletAuthError("unknown_notification", "unknown notification types: "
                              f"{', '.join(_short(n) for n in unknown)}")  # fmt: skip
    amount = 0
    if "max_amount" in one:
        value = parse_uint(one["max_amount"], max_digits=19)
        if value is None or value > MAX_AMOUNT_MSAT:
            raise WalletAuthError("bad_amount", "max_amount must be a whole number of "
                                  "millisatoshis up to 10,000 BTC")  # fmt: skip
        amount = value
    renewal = one.get("budget_renewal")
    if renewal is not None and renewal not in RENEWALS:
        raise WalletAuthError("bad_renewal",
                              f"budget_renewal must be one of {', '.join(RENEWALS)}")  # fmt: skip
    isolated = one.get("isolated", "false")
    if isolated not in ("true", "false"):
        raise WalletAuthError("bad_isolated", "isolated must be true or false")
    metadata = _metadata(one.get("metadata"))
    return ConnectionRequest(
        kind="walletauth",
        app_pubkey=pubkey,
        scheme_suffix=suffix,
        name=_name(one.get("name"), f"app {pubkey[:8]}"),
        icon=_icon(one.get("icon")),
        relays=relays,
        methods=methods,
        notifications=notifications,
        max_amount_msat=amount,
        budget_renewal=(renewal or DEFAULT_RENEWAL) if amount else None,
        expires_at=_expiry(one.get("expires_at"), now),
        isolated=isolated == "true",
        return_to=_return_to(one.get("return_to"), "return_to"),
        metadata=metadata,
    )


def _deep_link(
    target: str, suffix: str | None, params: dict[str, list[str]], one: dict[str, str], now: int
) -> ConnectionRequest:
    if target.lower() != "connect":
        raise WalletAuthError("bad_uri", "an NWC deep link must be nostrnwc://connect?…")
    return ConnectionRequest(
        kind="nostrnwc",
        app_pubkey=None,
        scheme_suffix=suffix,
        name=_name(one.get("appname"), "NWC app"),
        icon=_icon(one.get("appicon")),
        relays=[],
        methods=None,
        notifications=[],
        max_amount_msat=0,
        budget_renewal=None,
        expires_at=None,
        isolated=False,
        return_to=_return_to(one.get("callback"), "callback"),
    )


def _query(query: str) -> dict[str, list[str]]:
    """Form-decoded parameters ('+' is a space); a bad %-escape or a repeated single-valued
    parameter is refused (both parsers must read the same values)."""
    out: dict[str, list[str]] = {}
    for part in query.split("&") if query else []:
        if not part:
            continue
        key, _, value = part.partition("=")
        key, value = _decode(key), _decode(value)
        out.setdefault(key, []).append(value)
        if key in SINGLE and len(out[key]) > 1:
            raise WalletAuthError("bad_uri", f"{_short(key)} is given more than once")
    return out


def _decode(text: str) -> str:
    """decodeURIComponent after '+' → space: a broken escape or bad UTF-8 is refused."""
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    data = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "%":
            pair = text[i + 1 : i + 3]
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", pair):
                raise WalletAuthError("bad_uri", "the request has a broken %-escape")
            data.append(int(pair, 16))
            i += 3
        else:
            data.extend(text[i].encode("utf-8", "surrogatepass"))
            i += 1
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise WalletAuthError("bad_uri", "the request is not valid UTF-8") from None


def _words(text: str) -> list[str]:
    """A space-separated list, empty items dropped, repeats removed (first kept)."""
    return list(dict.fromkeys(w for w in text.split(" ") if w))


def _short(text: str) -> str:
    return text[:40] + ("…" if len(text) > 40 else "")


def _on_curve(x: int) -> bool:
    """Is x the x-coordinate of a secp256k1 point (BIP-340's lift_x succeeds)?"""
    if x >= _P:
        return False
    c = (pow(x, 3, _P) + 7) % _P
    y = pow(c, (_P + 1) // 4, _P)
    return y * y % _P == c


def _host(authority: str) -> str | None:
    """The host of an authority (no user info allowed), lower-cased; None if malformed."""
    if "@" in authority or not authority:
        return None
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return None
        host, port = authority[: end + 1], authority[end + 1 :]
    else:
        host, _, tail = authority.partition(":")
        port = ":" + tail if _ else ""
    if port and not re.fullmatch(r":[0-9]{1,5}", port):
        return None
    if not host or re.search(r"[\s<>\"\\^`{|}%]", host):
        return None
    return host.lower()


def _clean(text: str) -> bool:
    return not re.search(r"[\x00-\x20\x7f]", text)


def _relays(values: list[str]) -> list[str]:
    relays: list[str] = []
    for value in values:
        match = _URL.match(value)
        scheme = match.group(1).lower() if match else ""
        auth = _AUTHORITY.match(match.group(2)) if match else None
        host = _host(auth.group(1)) if auth else None
        ok = (
            len(value) <= MAX_URL
            and _clean(value)
            and host is not None
            and (scheme == "wss" or (scheme == "ws" and host in LOOPBACK))
        )
        if not ok:
            raise WalletAuthError("bad_relay", f"{_short(value)!r} is not a relay address "
                                  "(wss://, or ws:// on this machine)")  # fmt: skip
        if value not in relays:
            relays.append(value)
    if len(relays) > MAX_RELAYS:
        raise WalletAuthError("bad_relay", f"the request names more than {MAX_RELAYS} relays")
    return relays


def _web_url(value: str) -> str | None:
    """`value` if it is an https:// URL (or http:// on this machine), else None."""
    match = _URL.match(value)
    if not match or len(value) > MAX_URL or not _clean(value):
        return None
    scheme = match.group(1).lower()
    auth = _AUTHORITY.match(match.group(2))
    host = _host(auth.group(1)) if auth else None
    if host is None or scheme not in ("https", "http"):
        return None
    if scheme == "http" and host not in LOOPBACK:
        return None
    return value


def _return_to(value: str | None, label: str) -> str | None:
    """Where to send the user back: https://, http:// on this machine, or an app's own
    scheme (NWC-07 callbacks are mobile app schemes); never a scheme that runs code,
    reads files or sends the connection in clear over the network."""
    if value is None or value == "":
        return None
    match = _URL.match(value)
    scheme = match.group(1).lower() if match else ""
    if scheme in ("http", "https"):
        ok = _web_url(value) is not None
    else:
        ok = bool(match) and len(value) <= MAX_URL and _clean(value)
        ok = ok and scheme not in DENIED_SCHEMES and bool(match and match.group(2))
    if not ok:
        raise WalletAuthError("bad_return_to", f"{label} must be an https:// address, http:// "
                              "on this machine, or an app's own scheme")  # fmt: skip
    return value


def _icon(value: str | None) -> str | None:
    """An icon the app names: kept only if it is a web address (a bad icon is no reason to
    refuse a connection; it is simply not shown)."""
    return _web_url(value) if value else None


def _name(value: str | None, default: str) -> str:
    name = (value or "").strip(" ")
    if not name:
        return default
    if len(name) > MAX_NAME:
        raise WalletAuthError("bad_name", f"the app's name is longer than {MAX_NAME} characters")
    if any(_unprintable(c) for c in name):
        raise WalletAuthError("bad_name", "the app's name has control or invisible characters")
    return name


def _unprintable(c: str) -> bool:
    """Python's str.isprintable rule by Unicode category (the JS side uses the same)."""
    category = unicodedata.category(c)
    return category[0] == "C" or category in ("Zl", "Zp") or (category == "Zs" and c != " ")


def _expiry(value: str | None, now: int) -> int | None:
    if value is None:
        return None
    when = parse_uint(value, max_digits=12)
    if when is None or when == 0:
        raise WalletAuthError("bad_expiry", "expires_at must be a unix time in seconds")
    if when <= now:
        raise WalletAuthError("bad_expiry", "expires_at is in the past")
    return when


def _metadata(value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if len(value) > MAX_METADATA:
        raise WalletAuthError("bad_metadata", f"metadata is longer than {MAX_METADATA} characters")
    try:
        parsed = loads(value)
    except BadJson:
        raise WalletAuthError("bad_metadata", "metadata is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise WalletAuthError("bad_metadata", "metadata must be a JSON object")
    return parsed


def return_url(
    req: ConnectionRequest,
    *,
    relays: list[str],
    wallet_pubkey: str,
    uri: str,
    lud16: str | None = None,
) -> str | None:
    """Where the app is sent back once its connection exists: walletauth's `return_to`
    gets `relay`s and the wallet-service `pubkey` (and `lud16`), as Alby Hub adds them;
    NWC-07's `callback` gets `value=<the nostr+walletconnect URI>`. The JS twin is
    `returnUrl` in the home page's walletauth.js."""
    from urllib.parse import quote

    if not req.return_to:
        return None
    add: list[tuple[str, str]] = []
    if req.kind == "nostrnwc":
        add.append(("value", uri))
    else:
        add.extend(("relay", r) for r in relays)
        add.append(("pubkey", wallet_pubkey))
        if lud16:
            add.append(("lud16", lud16))
    query = "&".join(f"{k}={quote(v, safe=_URI_COMPONENT_SAFE)}" for k, v in add)
    base, hash_, fragment = req.return_to.partition("#")
    sep = ("" if base.endswith(("?", "&")) else "&") if "?" in base else "?"
    return base + sep + query + hash_ + fragment


_URI_COMPONENT_SAFE = "!*'()"  # with quote()'s own, what encodeURIComponent leaves alone


def norm_relay(url: str) -> str:
    """A relay URL compared loosely: scheme and host in lower case, no trailing slash."""
    scheme, sep, rest = url.strip().partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}{sep}{host.lower()}{slash}{path}".rstrip("/")


def shared_relays(app_relays: list[str], wallet_relays: list[str]) -> list[str]:
    """The app's relays the wallet also listens on, in the app's order (a walletauth
    connection is served there: the app sends its requests to its own relays)."""
    mine = {norm_relay(r) for r in wallet_relays}
    return [r for r in app_relays if norm_relay(r) in mine]
