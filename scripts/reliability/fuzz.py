"""Fuzz the webhook and the NIP-47 request path with seeded, generated input.

Two streams against one funded wallet on the real test mint:
  webhook  random and mutated bodies and headers: bad/missing signatures, Unicode-digit
           timestamps, huge numbers, nesting >= 1000, wrong types, oversized, non-UTF-8,
           validly signed garbage, events with bad ids/sigs/tags/expirations
  nip47    requests from the *authorised* connection, validly signed and encrypted, whose
           decrypted content is garbage (methods, params, types, nulls, huge numbers, nesting)

Every input: the answer must be < 500 with no traceback in it, the sealed state's bytes and
generation must not change, and neither may the balance. State changes are attributed to the
input (category, method) that caused them, so a defect shows as a figure, not a crash.

    python -m scripts.reliability fuzz --seed 1 --count 100000 --nip47 20000 [--http 2000]
"""

from __future__ import annotations

import contextlib
import json
import random
import string
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.reliability.common import LocalWallet, audit, has_traceback, snapshot
from signer_core.protocol.events import sign_event
from signer_core.protocol.webhook import (
    MAX_BODY_BYTES,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_delivery,
)

UNICODE_DIGITS = ["²", "³", "¹", "١٢٣", "１２３", "٣", "߀", "𝟙𝟚", "Ⅻ", "½", "⁹⁹"]
METHODS = [
    "pay_invoice", "make_invoice", "lookup_invoice", "list_transactions", "get_balance",
    "get_info", "get_budget", "multi_pay_invoice", "pay_keysend", "sign_message",
]  # fmt: skip


@dataclass
class Case:
    """One generated input: where it goes, what it is, and the bytes on the wire."""

    stream: str
    category: str
    headers: dict[str, str]
    body: bytes
    method: str = ""
    plain: str = ""  # the decrypted content of an authorised NIP-47 request


@dataclass
class Tally:
    inputs: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    server_errors: list[tuple[str, int, str]] = field(default_factory=list)
    tracebacks: list[tuple[str, str]] = field(default_factory=list)
    state_changes: Counter[str] = field(default_factory=Counter)
    state_change_examples: list[tuple[str, str, str]] = field(default_factory=list)
    balance_changes: list[tuple[str, int, int]] = field(default_factory=list)


# --- random values ------------------------------------------------------------------------


def huge_number(rng: random.Random) -> str:
    return rng.choice(
        [
            "9" * rng.randint(19, 5000),
            "-" + "9" * rng.randint(19, 400),
            "1e" + str(rng.randint(300, 100000)),
            "-0",
            "1.5",
            "NaN",
            "Infinity",
            "-Infinity",
            str(2**63),
            str(2**64 + 1),
            "0." + "0" * 400 + "1",
        ]
    )


def nested(rng: random.Random, depth: int) -> str:
    kind = rng.choice(["array", "object", "mixed", "unclosed"])
    if kind == "array":
        return "[" * depth + "]" * depth
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    if kind == "mixed":
        return '[{"a":' * (depth // 2) + "0" + "}]" * (depth // 2)
    return "[" * depth


def weird_string(rng: random.Random) -> str:
    return rng.choice(
        [
            "",
            rng.choice(UNICODE_DIGITS),
            "\u0000",
            "\ud800",  # a lone surrogate (json.dumps escapes it)
            "A" * rng.randint(1, 70000),
            "".join(rng.choice(string.printable) for _ in range(rng.randint(1, 40))),
            "lnbc" + "".join(rng.choice("0123456789acdefghjklmnpqrstuvwxyz") for _ in range(80)),
            "lnbc1" + rng.choice(UNICODE_DIGITS) + "p",
            "00" * 32,
            "zz" * 32,
            "é" * 40,
            "\u202e\u2066",
        ]
    )


def value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.55:
        return rng.choice(
            [
                None,
                True,
                False,
                0,
                -1,
                rng.randint(-(2**70), 2**70),
                10 ** rng.randint(15, 40),
                1.5,
                -0.0,
                1e308,
                weird_string(rng),
            ]
        )
    if roll < 0.8:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {weird_string(rng)[:20]: value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def raw_json_fragment(rng: random.Random) -> str:
    """A JSON value as text, including forms json.dumps never writes (huge, deep)."""
    roll = rng.random()
    if roll < 0.25:
        return huge_number(rng)
    if roll < 0.4:
        return nested(rng, rng.choice([1000, 1001, 5000, 100000]))
    if roll < 0.45:
        return '"' + rng.choice(UNICODE_DIGITS) + '"'
    return json.dumps(value(rng))


# --- the webhook stream ---------------------------------------------------------------------


@dataclass
class Parties:
    """What the generators sign with: the watcher, the authorised app, a stranger."""

    watcher: bytes
    app: Any
    stranger: Any
    service_pubkey: str


def good_event(parties: Parties, rng: random.Random, now: int) -> dict[str, Any]:
    app = parties.app if rng.random() < 0.5 else parties.stranger
    return dict(app.request(rng.choice(["get_balance", "get_info"]), created_at=now))


def mutate_event(ev: dict[str, Any], rng: random.Random, parties: Parties) -> dict[str, Any]:
    ev = json.loads(json.dumps(ev))
    what = rng.randrange(12)
    if what == 0:
        ev["id"] = rng.choice(["", "00" * 32, "zz" * 32, ev["id"][:-1], value(rng)])
    elif what == 1:
        ev["sig"] = rng.choice(["", "00" * 64, "zz" * 64, ev["sig"][:-2] + "00", value(rng)])
    elif what == 2:
        ev[rng.choice(list(ev))] = value(rng)
    elif what == 3:
        ev.pop(rng.choice(list(ev)))
    elif what == 4:
        ev["tags"] = value(rng)
    elif what == 5:  # a re-signed event with a Unicode-digit or huge expiration
        exp = rng.choice([*UNICODE_DIGITS, huge_number(rng), "-5", " 1", "1 ", ""])
        return dict(
            parties.app.request("get_balance", extra_tags=[["expiration", exp]])
            if rng.random() < 0.7
            else parties.app.request("pay_invoice", extra_tags=[["expiration", exp]])
        )
    elif what == 6:  # re-signed with a bad p tag
        p = rng.choice(["", "00", "zz" * 32, "²" * 64, parties.service_pubkey.upper(), "0" * 64])
        signed = sign_event(parties.app.secret, 23194, "x", [["p", p]])
        return dict(signed)
    elif what == 7:  # re-signed with another kind or huge created_at
        kind = rng.choice([0, 1, 23195, 23196, 13194, 65535])
        return dict(sign_event(parties.app.secret, kind, "x", [["p", parties.service_pubkey]]))
    elif what == 8:
        ev["created_at"] = rng.choice([10**30, -1, "²", 1.5, True, None, 2**63])
    elif what == 9:
        ev["content"] = rng.choice([value(rng), weird_string(rng), "?iv=", "a?iv=b"])
    elif what == 10:
        ev["kind"] = rng.choice(["23194", 23194.0, True, None, 10**40])
    else:
        ev["pubkey"] = rng.choice(["", "00" * 32, "zz" * 32, "²" * 64, value(rng)])
    return ev


def body_for(rng: random.Random, parties: Parties, now: int) -> tuple[str, bytes]:
    """(category, body) for a delivery whose signature may then be valid or not."""
    roll = rng.randrange(14)
    if roll == 0:
        return "random-bytes", rng.randbytes(rng.randint(0, 2000))
    if roll == 1:
        return "non-utf8", b'{"type": "request", "event": "\xff\xfe\xc3\x28"}'
    if roll == 2:
        depth = rng.choice([1000, 1001, 5000, 50000, 200000])
        return "deep-nesting", nested(rng, depth).encode()
    if roll == 3:
        return "huge-number", ('{"type":"request","event":' + huge_number(rng) + "}").encode()
    if roll == 4:
        size = rng.choice([MAX_BODY_BYTES + 1, MAX_BODY_BYTES * 2, 2 * 1024 * 1024])
        return "oversized", b'{"type":"wake","x":"' + b"A" * size + b'"}'
    if roll == 5:
        return "random-json", raw_json_fragment(rng).encode()
    if roll in (6, 7, 8):
        ev = mutate_event(good_event(parties, rng, now), rng, parties)
        return "bad-event", json.dumps({"type": "request", "event": ev}).encode()
    if roll == 9:
        body = {
            "type": rng.choice(["request", "wake", "", None, 5, [], "²", "WAKE"]),
            "event": value(rng),
            "relays": value(rng),
            "delivery": value(rng),
        }
        return "wrong-types", json.dumps(body).encode()
    if roll == 10:
        meta = {"id": value(rng), "attempt": value(rng)}
        return "wake-garbage", json.dumps({"type": "wake", "delivery": meta}).encode()
    if roll == 11:
        text = json.dumps({"type": "request", "event": good_event(parties, rng, now)})
        cut = rng.randrange(len(text))
        return "truncated", text[:cut].encode()
    if roll == 12:
        ev = good_event(parties, rng, now)
        fragment = raw_json_fragment(rng)
        return "event-raw-field", (
            '{"type":"request","event":' + json.dumps(ev)[:-1] + ',"x":' + fragment + "}}"
        ).encode()
    ev = good_event(parties, rng, now)
    return "valid-stranger-or-read", json.dumps({"type": "request", "event": ev}).encode()


def headers_for(
    rng: random.Random, body: bytes, parties: Parties, now: int
) -> tuple[str, dict[str, str]]:
    """(signature category, headers): mostly valid, else a specific way of being wrong."""
    good = sign_delivery(body, parties.watcher, now)
    roll = rng.randrange(16)
    if roll < 8:
        return "signed", good
    if roll == 8:
        return "no-signature", {TIMESTAMP_HEADER: good[TIMESTAMP_HEADER]}
    if roll == 9:
        return "no-timestamp", {SIGNATURE_HEADER: good[SIGNATURE_HEADER]}
    if roll == 10:
        ts = rng.choice([*UNICODE_DIGITS, str(now) + "²", "１" + str(now)[1:], huge_number(rng)])
        return "unicode-timestamp", {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: good[SIGNATURE_HEADER]}
    if roll == 11:
        ts = rng.choice(
            [str(now - 10_000), str(now + 10_000), "0", "-1", str(now) + ".0", " " + str(now)]
        )
        return "stale-timestamp", {**good, TIMESTAMP_HEADER: ts}
    if roll == 12:
        sig = rng.choice(
            [
                "",
                "00" * 64,
                "zz" * 64,
                good[SIGNATURE_HEADER][:-2],
                "²" * 128,
                good[SIGNATURE_HEADER] + "00",
                rng.randbytes(64).hex(),
            ]
        )
        return "bad-signature", {**good, SIGNATURE_HEADER: sig}
    if roll == 13:  # signed by someone else
        return "wrong-signer", sign_delivery(body, rng.randbytes(31) + b"\x01", now)
    if roll == 14:  # valid signature over other bytes
        return "signature-of-other-body", sign_delivery(body + b" ", parties.watcher, now)
    mixed = {k.upper() if rng.random() < 0.5 else k: v for k, v in good.items()}
    return "header-case", {**mixed, "X-Extra": weird_string(rng)[:200]}


def webhook_cases(rng: random.Random, parties: Parties, count: int) -> Iterator[Case]:
    for _ in range(count):
        now = int(time.time())
        category, body = body_for(rng, parties, now)
        sig_category, headers = headers_for(rng, body, parties, now)
        yield Case("webhook", f"{category}/{sig_category}", headers, body)


# --- the authorised NIP-47 stream -----------------------------------------------------------


def garbage_params(rng: random.Random, method: str) -> Any:
    """Params that are wrong for the method: never a valid payment or invoice request."""
    bad_amount = rng.choice(
        [None, -1, -(10**20), 10**30, 2**63, 1.5, "1000", "²", True, [], {}, 10**400]
    )
    bad_text = rng.choice([None, 5, 1.5, True, [], {}, "", weird_string(rng)])
    if method == "pay_invoice":
        return rng.choice(
            [
                {"invoice": bad_text},
                {"invoice": rng.choice(["lnbc1", "lnbc" + "x" * 300, "LNBC²", "lightning:"]),
                 "amount": bad_amount},
                {"amount": bad_amount},
                {},
            ]
        )  # fmt: skip
    if method == "make_invoice":
        return rng.choice(
            [
                {"amount": bad_amount},
                {"amount": bad_amount, "description": value(rng), "expiry": value(rng)},
                {"description": weird_string(rng)},
            ]
        )
    if method == "list_transactions":
        keys = ["from", "until", "limit", "offset", "unpaid", "type"]
        return {rng.choice(keys): value(rng) for _ in range(rng.randint(1, 4))}
    if method == "lookup_invoice":
        return rng.choice([{"payment_hash": bad_text}, {"invoice": bad_text}, {}])
    return value(rng)


def nip47_content(rng: random.Random) -> tuple[str, str]:
    """(method label, decrypted content): garbage in every position."""
    roll = rng.randrange(10)
    method = rng.choice(METHODS)
    if roll == 0:
        return "?", rng.choice(["", "not json", "{", "null", "[]", '"x"', "{}"])
    if roll == 1:
        return "?", nested(rng, rng.choice([1000, 1001, 3000, 20000]))[:60000]
    if roll == 2:
        return "?", '{"method":"get_balance","params":' + huge_number(rng)[:60000] + "}"
    if roll == 3:
        return "?", json.dumps({"method": value(rng), "params": value(rng)})[:60000]
    if roll == 4:
        name = rng.choice(["", "PAY_INVOICE", "pay_invoice ", "²", "x" * 500, "__class__"])
        return "unknown", json.dumps({"method": name, "params": {}})
    if roll == 5:
        deep = nested(rng, rng.choice([1000, 2000]))
        return method, '{"method":"' + method + '","params":' + deep + "}"
    if roll == 6:
        return method, json.dumps({"method": method, "params": rng.choice([None, [], "x", 5])})
    if roll == 7:
        return method, json.dumps({"method": method})
    return method, json.dumps({"method": method, "params": garbage_params(rng, method)})[:60000]


def nip47_cases(rng: random.Random, parties: Parties, count: int) -> Iterator[Case]:
    from signer_core.crypto import nip04, nip44

    app = parties.app
    peer = bytes.fromhex(app.uri.service_pubkey)
    conv = nip44.get_conversation_key(app.secret, peer)
    for _ in range(count):
        method, content = nip47_content(rng)
        scheme = "nip44_v2" if rng.random() < 0.85 else "nip04"
        if scheme == "nip04":
            encrypted = nip04.encrypt(content, app.secret, peer)
            tags = [["p", app.uri.service_pubkey]]
        else:
            encrypted = nip44.encrypt(content or " ", conv)
            tags = [["p", app.uri.service_pubkey], ["encryption", "nip44_v2"]]
        event = sign_event(app.secret, 23194, encrypted, tags, created_at=int(time.time()))
        body = json.dumps({"type": "request", "event": dict(event)}).encode()
        headers = sign_delivery(body, parties.watcher, int(time.time()))
        yield Case("nip47", f"nip47/{scheme}", headers, body, method, content)


# --- running -------------------------------------------------------------------------------


def http_exchange(port: int, case: Case) -> tuple[int, bytes]:
    """POST the case over a raw socket (headers as UTF-8 bytes, whatever they hold)."""
    import socket

    head = [b"POST / HTTP/1.1", b"Host: 127.0.0.1", b"Content-Length: %d" % len(case.body)]
    head += [f"{k}: {v}".encode("utf-8", "surrogatepass") for k, v in case.headers.items()]
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        # the server may answer (413) and close before an oversized body is sent
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + case.body)
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    if not data:
        return 0, b""  # closed without an answer (counted apart, not as a 5xx)
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split(b" ")[1]), rest.partition(b"\r\n\r\n")[2]


def run(
    wallet: LocalWallet,
    app: Any,
    seed: int,
    count: int,
    nip47: int,
    http: int = 0,
    check_balance_every: int = 0,
) -> Tally:
    """Deliver every generated input; tally answers and state changes."""
    from nwc_signer.dev.nwc_app import NwcApp
    from signer_core.protocol.webhook import encode_response

    rng = random.Random(seed)
    parties = Parties(
        wallet.watcher_secret, app, NwcApp.stranger(app.uri.service_pubkey), app.uri.service_pubkey
    )
    function = wallet.function()
    server = port = None
    if http:
        import threading

        from functions.local.server import make_server

        server = make_server(wallet.path, "127.0.0.1", 0)
        port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
    tally = Tally()
    before = snapshot(wallet.path)
    start_balance = audit(wallet.path).balance
    last_balance = start_balance
    cases = [webhook_cases(rng, parties, count), nip47_cases(rng, parties, nip47)]
    http_every = max(1, (count + nip47) // http) if http else 0
    try:
        for stream in cases:
            for case in stream:
                tally.inputs += 1
                if http_every and tally.inputs % http_every == 0 and port is not None:
                    status, body = http_exchange(port, case)
                    via = "http"
                else:
                    response = function.handle(case.headers, case.body)
                    status, _, body = encode_response(response)
                    via = "inproc"
                tally.by_status[status] += 1
                label = f"{case.category}:{case.method}" if case.method else case.category
                if status >= 500:
                    tally.server_errors.append(
                        (label, status, body[:200].decode("utf-8", "replace"))
                    )
                if has_traceback(body):
                    tally.tracebacks.append((label, body[:300].decode("utf-8", "replace")))
                after = snapshot(wallet.path)
                if after != before:
                    key = f"{case.stream}:{case.method or case.category.split('/')[0]}"
                    tally.state_changes[key] += 1
                    if len(tally.state_change_examples) < 12:
                        shown = case.plain or case.body.decode("utf-8", "replace")
                        reply = _reply_text(app, body)
                        tally.state_change_examples.append((key, shown[:160], reply[:200]))
                    balance = audit(wallet.path).balance if check_balance_every else last_balance
                    if balance != last_balance:
                        tally.balance_changes.append((label, last_balance, balance))
                        last_balance = balance
                    before = after
                del via
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    end_balance = audit(wallet.path).balance
    if end_balance != last_balance:
        tally.balance_changes.append(("end-of-run", last_balance, end_balance))
    return tally


def _reply_text(app: Any, body: bytes) -> str:
    """The decrypted 23195 reply in an answer body, for the report ('' if none)."""
    try:
        events = json.loads(body)["events"]
        return json.dumps(app.read(next(e for e in events if e["kind"] == 23195)))
    except Exception:  # a report helper: any answer without a readable reply shows as ''
        return ""


def figures(tally: Tally, seconds: float) -> dict[str, Any]:
    return {
        "inputs": tally.inputs,
        "seconds": round(seconds, 1),
        "statuses": dict(sorted(tally.by_status.items())),
        "answers_5xx": len(tally.server_errors),
        "first_5xx": tally.server_errors[:5],
        "5xx_by_input": dict(Counter(label for label, _, _ in tally.server_errors).most_common(10)),
        "tracebacks": len(tally.tracebacks),
        "first_tracebacks": tally.tracebacks[:3],
        "state_changes": sum(tally.state_changes.values()),
        "state_changes_by_input": dict(tally.state_changes.most_common()),
        "state_change_examples": tally.state_change_examples,
        "balance_changes": tally.balance_changes[:10],
    }


def main(args: Any) -> int:
    import tempfile

    from scripts.reliability.common import funded_wallet, mint, report

    started = time.time()
    with mint(args.mint_url) as url, tempfile.TemporaryDirectory() as tmp:
        wallet, app = funded_wallet(Path(tmp) / "fuzz", url, args.fund)
        tally = run(
            wallet, app, args.seed, args.count, args.nip47, args.http, check_balance_every=1
        )
    out = figures(tally, time.time() - started)
    report(f"fuzz seed={args.seed} webhook={args.count} nip47={args.nip47} http={args.http}", out)
    ok = out["answers_5xx"] == 0 and out["tracebacks"] == 0 and not out["balance_changes"]
    return 0 if ok and out["state_changes"] == 0 else 1
