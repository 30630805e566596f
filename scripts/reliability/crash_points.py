"""A SIGKILL at every persistence point of pay, make_invoice, receive (wake) and revoke.

Each run: a child process (scripts/reliability/crash_child.py) does the operation on the
wallet folder and kills itself at point k (before / after each state write and each
generation-guard advance); then this process recovers the way production does (the watcher
re-delivers the event, the scheduled wake comes, the user runs revoke again) and checks:
  - the state always opens (with the generation guard as it was left);
  - no double payment: at most one settled outgoing transaction per pay request, and the
    balance moved by exactly amount + fee once (or not at all);
  - no phantom balance: every spendable proof is UNSPENT at the mint (NUT-07 checkstate);
  - received money counted once; a revoke either happened or not, the other app still works.
k runs 0, 1, 2, ... until the child finishes without reaching k; `--rounds` repeats the pass.

    python -m scripts.reliability crash-points --seed 1 --rounds 10
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from scripts.reliability.common import LocalWallet, audit, funded_wallet, mint_invoice

OPS = ("pay", "make", "receive", "revoke")
MAX_POINTS = 40


def child(data_dir: Path, kill_at: int, *args: str) -> int:
    """Run the child; its return code (-9 when it was killed at the point)."""
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.reliability.crash_child", str(data_dir), str(kill_at),
         *args],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    if proc.returncode not in (0, -9):
        raise RuntimeError(f"child failed ({proc.returncode}): {proc.stderr[-800:]}")
    return proc.returncode


def deliver_until_done(wallet: LocalWallet, app: Any, event: Any) -> dict[str, Any]:
    """Re-deliver as the watcher does (409/5xx: again), waking the wallet in between."""
    for _ in range(20):
        got = wallet.deliver(event)
        if got.status == 200:
            replies = [e for e in got.events if e["kind"] == 23195]
            return app.read(replies[0]) if replies else {"error": {"code": "NO_REPLY"}}
        wallet.wake()
        time.sleep(0.2)
    return {"error": {"code": f"STILL_{got.status}", "message": got.message}}


def check_common(wallet: LocalWallet, problems: list[str], where: str) -> Any:
    try:
        after = audit(wallet.path)
    except Exception as exc:  # the state did not open: the figure this proof exists for
        problems.append(f"{where}: state does not open: {exc!r}")
        return None
    if after.phantom:
        problems.append(f"{where}: phantom balance {after.phantom} sat (spent/pending proofs)")
    return after


def run_pay(wallet: LocalWallet, app: Any, mint_url: str, k: int, rng: random.Random,
            tmp: Path, problems: list[str]) -> int:  # fmt: skip
    sats = rng.randint(1, 30)
    before = audit(wallet.path)
    event = app.request("pay_invoice", {"invoice": mint_invoice(mint_url, sats)})
    payload = tmp / "event.json"
    payload.write_text(json.dumps(event))
    code = child(wallet.path, k, "deliver", str(payload))
    where = f"pay k={k}"
    if check_common(wallet, problems, where + " (right after the kill)") is None:
        return code
    reply = deliver_until_done(wallet, app, event)
    again = deliver_until_done(wallet, app, event)
    after = check_common(wallet, problems, where)
    if after is None:
        return code
    if again != reply:
        problems.append(f"{where}: a re-delivery answered differently: {reply} vs {again}")
    paid = reply.get("error") is None
    fee = reply["result"].get("fees_paid", 0) // 1000 if paid else 0
    if after.outgoing - before.outgoing != (1 if paid else 0):
        problems.append(f"{where}: {after.outgoing - before.outgoing} settled payments, "
                        f"reply {reply}")  # fmt: skip
    expected = -(sats + fee) if paid else 0
    if after.balance - before.balance != expected:
        problems.append(f"{where}: balance moved {after.balance - before.balance}, "
                        f"expected {expected}; reply {reply}")  # fmt: skip
    return code


def run_make(wallet: LocalWallet, app: Any, k: int, rng: random.Random, tmp: Path,
             problems: list[str]) -> int:  # fmt: skip
    event = app.request("make_invoice", {"amount": rng.randint(1, 50) * 1000})
    payload = tmp / "event.json"
    payload.write_text(json.dumps(event))
    code = child(wallet.path, k, "deliver", str(payload))
    where = f"make k={k}"
    check_common(wallet, problems, where + " (right after the kill)")
    reply = deliver_until_done(wallet, app, event)
    if reply.get("error") is not None:
        problems.append(f"{where}: make_invoice failed after recovery: {reply}")
    elif deliver_until_done(wallet, app, event) != reply:
        problems.append(f"{where}: a re-delivery made another invoice")
    check_common(wallet, problems, where)
    return code


def run_receive(wallet: LocalWallet, app: Any, k: int, rng: random.Random,
                problems: list[str]) -> int:  # fmt: skip
    sats = rng.randint(1, 50)
    for _ in range(3):  # settle the invoices the make runs left first (the mint pays them)
        wallet.wake()
    before = audit(wallet.path)
    wallet.invoice(app, sats)  # the fake backend pays it when the quote is next checked
    code = child(wallet.path, k, "wake")
    where = f"receive k={k}"
    if check_common(wallet, problems, where + " (right after the kill)") is None:
        return code
    for _ in range(10):
        if audit(wallet.path).balance - before.balance >= sats:
            break
        wallet.wake()
        time.sleep(0.2)
    for _ in range(2):
        wallet.wake()  # later wakes must not count it twice
    after = check_common(wallet, problems, where)
    if after is not None and after.balance - before.balance != sats:
        problems.append(f"{where}: received {after.balance - before.balance}, expected {sats}")
    return code


def run_revoke(wallet: LocalWallet, app: Any, k: int, n: int, problems: list[str]) -> int:
    name = f"victim{n}"
    victim = wallet.add_app(name=name)
    balance = wallet.call(app, "get_balance")["result"]["balance"]
    code = child(wallet.path, k, "revoke", name)
    where = f"revoke k={k}"
    if check_common(wallet, problems, where) is None:
        return code
    if wallet.call(app, "get_balance")["result"]["balance"] != balance:
        problems.append(f"{where}: the other app sees another balance")
    if answers(wallet, victim):  # not revoked yet: the user runs it again, it must work
        from scripts.reliability.common import run_cli

        rc, _, err = run_cli("connection", "revoke", "--data-dir", str(wallet.path), name)
        if rc != 0:
            problems.append(f"{where}: revoke again failed: {err.strip()}")
    if answers(wallet, victim):
        problems.append(f"{where}: the revoked app still gets answers")
    return code


def answers(wallet: LocalWallet, app: Any) -> bool:
    """Does this app still get a balance (404 / UNAUTHORIZED once revoked)?"""
    got = wallet.deliver(app.request("get_balance"))
    if got.status != 200:
        return False
    reply = app.read(next(e for e in got.events if e["kind"] == 23195))
    return reply.get("error") is None


def run(path: Path, mint_url: str, seed: int, rounds: int, ops: tuple[str, ...] = OPS,
        fund: int = 3000) -> dict[str, Any]:  # fmt: skip
    rng = random.Random(seed)
    wallet, app = funded_wallet(path / "wallet", mint_url, fund)
    problems: list[str] = []
    runs = Counter[str]()
    kills = Counter[str]()
    n = 0
    for _ in range(rounds):
        for op in ops:
            for k in range(MAX_POINTS):
                n += 1
                if op == "pay":
                    code = run_pay(wallet, app, mint_url, k, rng, path, problems)
                elif op == "make":
                    code = run_make(wallet, app, k, rng, path, problems)
                elif op == "receive":
                    code = run_receive(wallet, app, k, rng, problems)
                else:
                    code = run_revoke(wallet, app, k, n, problems)
                runs[op] += 1
                if code == 0:
                    break  # finished before point k: every point of this op was covered
                kills[op] += 1
    final = audit(wallet.path)
    return {
        "runs": sum(runs.values()),
        "runs_by_op": dict(runs),
        "kills_by_op": dict(kills),
        "problems": len(problems),
        "first_problems": problems[:15],
        "all_problems": problems,
        "problem_kinds": dict(Counter(p.split(":")[1].strip().split(" ")[0] for p in problems)),
        "final_audit": final.as_dict(),
    }


def main(args: Any) -> int:
    import tempfile

    from scripts.reliability.common import mint, report

    started = time.time()
    with mint(args.mint_url) as url, tempfile.TemporaryDirectory() as tmp:
        out = run(Path(tmp), url, args.seed, args.rounds)
    out["seconds"] = round(time.time() - started, 1)
    del out["all_problems"]
    report(f"crash points seed={args.seed} rounds={args.rounds}", out)
    return 0 if out["problems"] == 0 else 1
