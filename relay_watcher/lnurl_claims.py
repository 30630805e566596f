"""Lightning-address claims (relay_watcher/lnurl.py serves the addresses): the signed claim a
wallet sends, its checks, and the `lightning_addresses` table (migration 6).

A claim is signed by the wallet's registration key exactly as a registration is (BIP-340 over
a domain-separated hash of timestamp and body), so only the wallet that registered can name
itself; it names the zap key that will sign the wallet's zap receipts (LNURL `nostrPubkey`).
"""

from __future__ import annotations

import re

from relay_watcher.db import Database
from relay_watcher.registration import RegistrationError, sign_body, verify_signed
from signer_core.crypto.secp import xonly_pubkey

DOMAIN = b"nwc-signer/lightning-address/v1"
SIGNATURE_KEPT_S = 3600
MAX_BODY = 4096
NAME = re.compile(r"[a-z0-9._-]{1,64}")
HEX64 = re.compile(r"[0-9a-f]{64}")
RESERVED = frozenset((
    "abuse", "admin", "administrator", "api", "callback", "help", "hostmaster", "info", "lnurl",
    "lnurlp", "mailer-daemon", "nobody", "noreply", "no-reply", "nostr", "operator",
    "postmaster", "root", "security", "support", "system", "watcher", "webmaster",
    "well-known", "www",
))  # fmt: skip


class Refused(Exception):
    """An LNURL or claim refusal: HTTP status and the reason shown to the caller."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def check_name(name: object) -> str:
    """A name a wallet may claim, or Refused(400) saying why."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or not name.strip(".-_"):
        raise Refused(400, "names are 1-64 of a-z 0-9 . _ - (lower case)")
    if name in RESERVED:
        raise Refused(400, f"the name {name!r} is reserved")
    return name


# --- claims (wallet side builds, watcher side verifies) ---------------------------------


def build_claim(
    registration_secret: bytes, *, name: str, nostr_pubkey: str, now: int, action: str = "claim"
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a signed claim (or release) of a name (the CLI's side)."""
    body = {"action": action, "wallet_pubkey": xonly_pubkey(registration_secret).hex()}
    if action == "claim":
        body.update(name=name, nostr_pubkey=nostr_pubkey)
    return sign_body(DOMAIN, registration_secret, body, now)


def verify_claim(headers: dict[str, str], body: bytes, now: int) -> tuple[dict[str, str], str]:
    """(the claim's fields, its signature); Refused(400/401) otherwise."""
    try:  # signed exactly as a registration is, under this file's domain
        raw, wallet, sig, _ = verify_signed(DOMAIN, headers, body, now, "claim")
    except RegistrationError as exc:
        raise Refused(exc.status, str(exc)) from None
    action = raw.get("action", "claim")
    if action == "release":
        return {"action": "release", "wallet_pubkey": wallet}, sig
    if action != "claim":
        raise Refused(400, "action must be claim or release")
    nostr_pubkey = raw.get("nostr_pubkey")
    if not isinstance(nostr_pubkey, str) or not HEX64.fullmatch(nostr_pubkey):
        raise Refused(400, "nostr_pubkey (the zap receipts' key) must be 64 hex characters")
    name = check_name(raw.get("name"))
    return {"action": "claim", "wallet_pubkey": wallet, "name": name,
            "nostr_pubkey": nostr_pubkey}, sig  # fmt: skip


# --- storage (migration 6: lightning_addresses) -----------------------------------------


class AddressBook:
    """name -> wallet, one name per wallet, unique per watcher (all replicas)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, fields: dict[str, str], sig: str, now: int) -> None:
        name, wallet = fields["name"], fields["wallet_pubkey"]
        with self.db.tx() as c:
            c.lock("nwc-lightning-addresses")
            self._use_signature(c, sig, now)
            row = c.one("SELECT wallet_pubkey FROM lightning_addresses WHERE name = ?", (name,))
            if row is not None and row[0] != wallet:
                raise Refused(409, f"the name {name!r} is taken")
            c.execute("DELETE FROM lightning_addresses WHERE wallet_pubkey = ?", (wallet,))
            c.execute(
                "INSERT INTO lightning_addresses (name, wallet_pubkey, nostr_pubkey, claimed_at)"
                " VALUES (?, ?, ?, ?)",
                (name, wallet, fields["nostr_pubkey"], now),
            )

    def release(self, wallet: str, sig: str, now: int) -> bool:
        with self.db.tx() as c:
            self._use_signature(c, sig, now)
            gone = c.execute("DELETE FROM lightning_addresses WHERE wallet_pubkey = ?", (wallet,))
        return gone > 0

    def lookup(self, name: str) -> tuple[str, str] | None:
        """(wallet pubkey, zap pubkey) of a served name: its wallet registered, not suspended."""
        row = self.db.one(
            "SELECT a.wallet_pubkey, a.nostr_pubkey FROM lightning_addresses a"
            " JOIN wallets w ON w.wallet_pubkey = a.wallet_pubkey WHERE a.name = ?"
            " AND NOT EXISTS (SELECT 1 FROM suspended_wallets s"
            " WHERE s.wallet_pubkey = a.wallet_pubkey)",
            (name,),
        )
        return (str(row[0]), str(row[1])) if row else None

    def is_zap_key(self, pubkey: str) -> bool:
        return (
            self.db.one("SELECT 1 FROM lightning_addresses WHERE nostr_pubkey = ?", (pubkey,))
            is not None
        )

    @staticmethod
    def _use_signature(c: Database, sig: str, now: int) -> None:
        c.execute("DELETE FROM used_signatures WHERE expires_at < ?", (now,))
        inserted = c.execute(
            "INSERT INTO used_signatures (signature, expires_at) VALUES (?, ?)"
            " ON CONFLICT (signature) DO NOTHING",
            (sig, now + SIGNATURE_KEPT_S),
        )
        if inserted != 1:
            raise Refused(409, "this claim was already used (replay)")
