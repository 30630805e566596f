"""Exactly-once payments on the real test mint.

1. One payment delivered `--deliveries` times: concurrent bursts over the real HTTP server
   (functions/local/server.py) and in-process, then sequential re-deliveries of both kinds.
   Proof: the payee's balance is the amount exactly once, the payer has one settled outgoing
   payment, its balance is start - amount - fee, and every 200 answer carries one preimage.
2. `--payments` distinct payments at once against a connection's budget (each re-delivered on
   409/5xx, as the watcher does). Proof: spent (amount + fee) never above the budget, balance
   = start - sum(amount + actual fee), no phantom proofs (NUT-07).

    python -m scripts.reliability exactly-once --seed 1 --deliveries 1000 --payments 200
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from scripts.reliability.common import (
    LocalWallet,
    audit,
    funded_wallet,
    has_traceback,
    mint_invoice,
)
from signer_core.protocol.webhook import (
    WebhookResponse,
    parse_response,
    request_delivery,
    signed_delivery,
)

RETRY_STATUSES = (409, 503)


def _serve(wallet: LocalWallet) -> tuple[Any, int]:
    from functions.local.server import make_server

    server = make_server(wallet.path, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def _via_http(client: httpx.Client, port: int, wallet: LocalWallet, event: Any) -> WebhookResponse:
    headers, body = signed_delivery(
        request_delivery(event, ["ws://127.0.0.1:1"]), wallet.watcher_secret, int(time.time())
    )
    res = client.post(f"http://127.0.0.1:{port}/", content=body, headers=headers)
    if has_traceback(res.content):
        return WebhookResponse(599, message="TRACEBACK " + res.text[:200])
    return parse_response(res.status_code, dict(res.headers), res.content)


def one_payment(
    wallet: LocalWallet, app: Any, payee: LocalWallet, payee_app: Any, deliveries: int,
    threads: int, rng: random.Random,
) -> dict[str, Any]:  # fmt: skip
    """Deliver one pay_invoice event `deliveries` times; the figures of what happened."""
    sats = rng.randint(5, 50)
    start = audit(wallet.path)
    invoice = payee.invoice(payee_app, sats)
    event = app.request("pay_invoice", {"invoice": invoice})
    server, port = _serve(wallet)
    answers: list[WebhookResponse] = []
    lock = threading.Lock()
    quarter = max(1, deliveries // 4)
    plan = (
        [("http", "burst")] * quarter
        + [("inproc", "burst")] * quarter
        + [(rng.choice(["http", "inproc"]), "seq") for _ in range(deliveries - 2 * quarter)]
    )
    try:
        with httpx.Client(timeout=60) as client:

            def deliver(via: str) -> None:
                if via == "http":
                    got = _via_http(client, port, wallet, event)
                else:
                    got = wallet.deliver(event)
                with lock:
                    answers.append(got)

            for mode in ("burst",):
                for via in ("http", "inproc"):
                    batch = [v for v, m in plan if m == mode and v == via]
                    with ThreadPoolExecutor(threads) as pool:
                        list(pool.map(deliver, batch))
            for via, mode in plan:
                if mode == "seq":
                    deliver(via)
    finally:
        server.shutdown()
        server.server_close()
    woke = payee.wake()
    payee_balance = payee.call(payee_app, "get_balance")["result"]["balance"]
    end = audit(wallet.path)
    statuses = Counter(a.status for a in answers)
    preimages, fees, errors = set(), set(), Counter()
    for a in answers:
        if a.status != 200:
            continue
        replies = [e for e in a.events if e["kind"] == 23195]
        if not replies:
            errors["200 without a reply"] += 1
            continue
        reply = app.read(replies[0])
        if reply["error"]:
            errors[reply["error"]["code"]] += 1
        else:
            preimages.add(reply["result"]["preimage"])
            fees.add(reply["result"].get("fees_paid", 0))
    fee_sat = (max(fees) if fees else 0) // 1000
    return {
        "amount_sat": sats,
        "deliveries": len(answers),
        "statuses": dict(sorted(statuses.items())),
        "distinct_preimages": len(preimages),
        "error_replies": dict(errors),
        "payee_received_msat": payee_balance,
        "payee_expected_msat": sats * 1000,
        "payer_outgoing_settled": end.outgoing - start.outgoing,
        "payer_balance_delta_sat": end.balance - start.balance,
        "payer_expected_delta_sat": -(sats + fee_sat),
        "phantom_sat": end.phantom,
        "payer_audit_end": end.as_dict(),
        "wake_status": woke.status,
        "ok": (
            payee_balance == sats * 1000
            and end.outgoing - start.outgoing == 1
            and len(preimages) == 1
            and end.balance - start.balance == -(sats + fee_sat)
            and end.phantom == 0
            and not any(s >= 500 for s in statuses)
        ),
    }


def budget_run(
    path: Path, mint_url: str, payments: int, threads: int, rng: random.Random
) -> dict[str, Any]:
    """`payments` distinct payments at once against a budget smaller than their sum."""
    amounts = [rng.randint(1, 20) for _ in range(payments)]
    budget = sum(amounts) // 2
    fund = sum(amounts) + 200
    wallet, app = funded_wallet(path, mint_url, fund, "--budget-sats", str(budget), name="budget")
    start = audit(wallet.path)
    invoices = [mint_invoice(mint_url, a) for a in amounts]
    events = [app.request("pay_invoice", {"invoice": inv}) for inv in invoices]
    outcome: list[tuple[int, dict[str, Any] | None, list[int]]] = []
    lock = threading.Lock()

    def pay(i: int) -> None:
        seen: list[int] = []
        reply = None
        for _ in range(60):
            got = wallet.deliver(events[i])
            seen.append(got.status)
            if got.status not in RETRY_STATUSES and got.status < 500:
                replies = [e for e in got.events if e["kind"] == 23195]
                reply = app.read(replies[0]) if replies else None
                break
            time.sleep(rng.uniform(0.02, 0.2))
        with lock:
            outcome.append((i, reply, seen))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(pay, range(payments)))
    # What the watcher does after its re-deliveries: a wake-up finishes the payments still
    # claimed (late replies), then a re-delivery gets the stored answer. Every payment must
    # be answered after that; "unanswered_after_60_tries" only says how many needed it.
    starved = [i for i, r, _ in outcome if r is None]
    answers = {i: r for i, r, _ in outcome}
    for _ in range(10):
        waiting = [i for i in starved if answers[i] is None]
        if not waiting:
            break
        wallet.wake()
        for i in waiting:
            got = wallet.deliver(events[i])
            replies = [e for e in got.events if e["kind"] == 23195]
            if got.status == 200 and replies:
                answers[i] = app.read(replies[0])
        time.sleep(0.5)
    outcome = [(i, answers[i], seen) for i, _, seen in outcome]
    end = audit(wallet.path)
    paid = [(i, r) for i, r, _ in outcome if r and not r["error"]]
    refused = Counter(r["error"]["code"] for _, r, _ in outcome if r and r["error"])
    unanswered = [i for i, r, _ in outcome if r is None]
    spent_msat = sum(amounts[i] * 1000 + r["result"].get("fees_paid", 0) for i, r in paid)
    statuses = Counter(s for _, _, seen in outcome for s in seen)
    budget_now = wallet.call(app, "get_budget")["result"]
    return {
        "payments": payments,
        "budget_sat": budget,
        "sum_of_amounts_sat": sum(amounts),
        "paid": len(paid),
        "refused": dict(refused),
        "refusal_messages": sorted(
            {r["error"]["message"][:120] for _, r, _ in outcome if r and r["error"]}
        )[:5],
        "unanswered_after_60_tries": len(starved),
        "unanswered_after_wake": len(unanswered),
        "statuses_seen": dict(sorted(statuses.items())),
        "spent_msat": spent_msat,
        "spent_within_budget": spent_msat <= budget * 1000,
        "get_budget_used_msat": budget_now.get("used_budget"),
        "balance_delta_sat": end.balance - start.balance,
        "expected_delta_sat": -spent_msat // 1000,
        "phantom_sat": end.phantom,
        "outgoing_settled": end.outgoing - start.outgoing,
        "ok": (
            spent_msat <= budget * 1000
            and (end.balance - start.balance) * 1000 == -spent_msat
            and end.phantom == 0
            and end.outgoing - start.outgoing == len(paid)
            and not unanswered
        ),
    }


def main(args: Any) -> int:
    import tempfile

    from scripts.reliability.common import mint, report

    rng = random.Random(args.seed)
    started = time.time()
    with mint(args.mint_url) as url, tempfile.TemporaryDirectory() as tmp:
        wallet, app = funded_wallet(Path(tmp) / "payer", url, 500)
        payee = LocalWallet.create(Path(tmp) / "payee", url)
        payee_app = payee.add_app(name="payee")
        once = one_payment(wallet, app, payee, payee_app, args.deliveries, args.threads, rng)
        report(f"exactly-once: one payment x {args.deliveries} (seed {args.seed})", once)
        if args.payments:
            budget = budget_run(Path(tmp) / "budget", url, args.payments, args.threads, rng)
            report(f"exactly-once: {args.payments} concurrent payments vs a budget", budget)
        else:
            budget = {"ok": True}
    print(json.dumps({"seconds": round(time.time() - started, 1)}))
    return 0 if once["ok"] and budget["ok"] else 1
