"""A real LNURL-pay server on loopback (LUD-06/16) for the NWC-321 tests.

Its invoices are made by a second real wallet on the same nutshell mint (`make_invoice`
given to it), then re-issued with the description hash LUD-06 asks for: Cashu mint quotes
cannot carry one (NUT-04 has no description_hash). The re-issued invoice keeps the mint
invoice's payment hash and secret, so the payer's mint settles it through its fake Lightning
backend with the real preimage, and the payee's quote is paid. `mode` makes the server
misbehave in one chosen way; `hits` records every path asked, in order.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from coincurve import PrivateKey

from signer_core.protocol.bolt11 import _CHARSET, _CHARSET_MAP, _hrp_expand, _polymod
from signer_core.wallets.base import WalletEnv

_TAG_D, _TAG_H = 13, 23
_SIG_GROUPS = 104
_SIGNING_KEY = PrivateKey(hashlib.sha256(b"nwc-signer test lnurl server").digest())


def _convert(data: list[int] | bytes, frm: int, to: int) -> list[int]:
    acc, bits, out = 0, 0, []
    for value in data:
        acc = (acc << frm) | value
        bits += frm
        while bits >= to:
            bits -= to
            out.append((acc >> bits) & ((1 << to) - 1))
    if bits:
        out.append((acc << (to - bits)) & ((1 << to) - 1))
    return out


def with_description_hash(invoice: str, description_hash: bytes) -> str:
    """The same bolt11 with its `d`/`h` tags replaced by `h` = description_hash, re-signed."""
    invoice = invoice.lower()
    sep = invoice.rfind("1")
    hrp, groups = invoice[:sep], [_CHARSET_MAP[c] for c in invoice[sep + 1 :]][:-6]
    body, fields, i = groups[:-_SIG_GROUPS], groups[:7], 7
    while i < len(body):
        tag, length = body[i], body[i + 1] << 5 | body[i + 2]
        if tag not in (_TAG_D, _TAG_H):
            fields += body[i : i + 3 + length]
        i += 3 + length
    hashed = _convert(description_hash, 8, 5)
    fields += [_TAG_H, len(hashed) >> 5, len(hashed) & 31, *hashed]
    message = hrp.encode() + bytes(_convert(fields, 5, 8))
    signature = _SIGNING_KEY.sign_recoverable(message, hasher=lambda m: hashlib.sha256(m).digest())
    data = fields + _convert(signature[:64] + signature[64:], 8, 5)
    poly = _polymod(_hrp_expand(hrp) + data + [0] * 6) ^ 1
    checksum = [(poly >> 5 * (5 - k)) & 31 for k in range(6)]
    return hrp + "1" + "".join(_CHARSET[g] for g in data + checksum)


class LnurlServer:
    """`alice@127.0.0.1:PORT`, served until `close()`."""

    def __init__(self, make_invoice: Callable[[int], str], *, name: str = "alice") -> None:
        self.make_invoice = make_invoice
        self.name = name
        self.mode = "ok"
        self.min_msat, self.max_msat = 1_000, 100_000_000
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                status, body = server.answer(self.path)
                self.send_response(status)
                if status == 302:
                    self.send_header("location", f"http://127.0.0.1:{server.port}/elsewhere")
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"{self.name}@127.0.0.1:{self.port}"

    @property
    def metadata(self) -> str:
        return json.dumps([["text/plain", f"pay {self.name}"], ["text/identifier", self.address]])

    def answer(self, path: str) -> tuple[int, bytes]:
        url = urlsplit(path)
        self.hits.append(url.path)
        if url.path == f"/.well-known/lnurlp/{self.name}":
            if self.mode == "bad_json":
                return 200, b"{not json"
            if self.mode == "huge":
                return 200, b'{"tag": "payRequest", "pad": "' + b"x" * 100_000 + b'"}'
            if self.mode == "redirect":
                return 302, b"{}"
            if self.mode == "server_error":
                return 500, b'{"status": "ERROR", "reason": "the node is down"}'
            return 200, json.dumps(
                {
                    "tag": "payRequest",
                    "callback": f"http://127.0.0.1:{self.port}/callback/{self.name}?k=1",
                    "minSendable": self.min_msat,
                    "maxSendable": self.max_msat,
                    "metadata": self.metadata,
                    "commentAllowed": 50,
                }
            ).encode()
        if url.path == f"/callback/{self.name}":
            query = parse_qs(url.query)
            amount = int(query["amount"][0])
            if self.mode == "wrong_amount":
                amount += 1000
            invoice = self.make_invoice(amount)
            digest = hashlib.sha256(self.metadata.encode()).digest()
            if self.mode == "wrong_hash":
                digest = hashlib.sha256(b"some other metadata").digest()
            return 200, json.dumps(
                {"pr": with_description_hash(invoice, digest), "routes": []}
            ).encode()
        return 404, b'{"status": "ERROR", "reason": "no such path"}'

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def encode_lnurl(url: str) -> str:
    """LUD-01: a URL as a bech32 `lnurl1…`."""
    data = _convert(url.encode(), 8, 5)
    poly = _polymod(_hrp_expand("lnurl") + data + [0] * 6) ^ 1
    checksum = [(poly >> 5 * (5 - k)) & 31 for k in range(6)]
    return "lnurl1" + "".join(_CHARSET[g] for g in data + checksum)


class Recording(httpx.HTTPTransport):
    """A transport a backend hands out (Pyodide's fetch in production) that records every
    URL. Lives here, not in a test module: the backend registry imports it by name."""

    urls: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        Recording.urls.append(str(request.url))
        return super().handle_request(request)


def recording_cashu(data: dict[str, Any], env: WalletEnv) -> Any:
    from signer_core.wallets.cashu.wallet import CashuWallet

    return CashuWallet(data, env, transport=Recording())
