"""An app's connection request in plain words (`nwc-signer connection approve` prints
these before asking). The home page says the same in walletauth.js's `describe`."""

from __future__ import annotations

import time

from signer_core.protocol.walletauth import DEFAULT_RENEWAL, ConnectionRequest


def describe(req: ConnectionRequest, *, wallet_methods: list[str] | None = None) -> list[str]:
    """The request in plain words, one line each (the CLI prints them before asking)."""
    who = f"{req.name!r}" + (f" (key {req.app_pubkey[:12]}…)" if req.app_pubkey else "")
    lines = [f"{who} asks to connect to this wallet."]
    methods = req.methods if req.methods is not None else wallet_methods
    if methods is None:
        lines.append("It may use: every method this wallet grants.")
    else:
        lines.append("It may: " + "; ".join(METHOD_WORDS.get(m, m) for m in methods) + ".")
    if req.notifications:
        lines.append(f"It is told of: {', '.join(n.replace('_', ' ') for n in req.notifications)}.")
    if req.max_amount_msat:
        per = PERIOD_WORDS[req.budget_renewal or DEFAULT_RENEWAL]
        lines.append(f"Budget: at most {_sats(req.max_amount_msat)} {per}.")
    elif req.methods is None or any(m in SPENDING for m in req.methods):
        lines.append("Budget: none asked; it could spend the whole balance.")
    if req.expires_at is not None:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(req.expires_at))
        lines.append(f"Expires: {stamp}.")
    else:
        lines.append("Expires: never (revoke it with `nwc-signer connection revoke`).")
    if req.isolated:
        lines.append("Isolated: it gets its own balance, apart from the wallet's.")
    if req.relays:
        lines.append(f"Relays: {', '.join(req.relays)}.")
    if req.return_to:
        lines.append(f"Afterwards you are sent back to: {req.return_to}")
    return lines


SPENDING = frozenset({"pay_invoice", "multi_pay_invoice", "pay_keysend", "multi_pay_keysend",
                      "pay"})  # fmt: skip
PERIOD_WORDS = {"never": "in total, never renewed", "daily": "per day", "weekly": "per week",
                "monthly": "per month", "yearly": "per year"}  # fmt: skip
METHOD_WORDS = {
    "pay_invoice": "send payments", "multi_pay_invoice": "send several payments at once",
    "pay_keysend": "send keysend payments", "multi_pay_keysend": "send several keysends",
    "pay": "send payments to invoices, offers and lightning addresses",
    "make_invoice": "create invoices", "receive": "create payment requests",
    "lookup_invoice": "look up invoices", "list_transactions": "read your transaction history",
    "get_balance": "read your balance", "get_info": "read the wallet's info",
    "get_budget": "read its own budget", "sign_message": "sign messages with the wallet's key",
    "make_hold_invoice": "create hold invoices", "settle_hold_invoice": "settle hold invoices",
    "cancel_hold_invoice": "cancel hold invoices",
}  # fmt: skip


def _sats(msat: int) -> str:
    whole, rest = divmod(msat, 1000)
    return f"{whole:,}" + (f".{rest:03d}".rstrip("0") if rest else "") + " sats"
