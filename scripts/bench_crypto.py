#!/usr/bin/env python3
"""Per-operation CPU time of the crypto, native (coincurve, pycryptodome) vs pure Python.

Prints a markdown table (CPU time per operation: best of several batches, so a busy shared
machine inflates it less), the one-time costs of the pure backend's lazily built tables, and
the crypto of one ``get_balance`` request with each backend against Cloudflare's free-plan
10 ms CPU. Usage:

    .venv/bin/python scripts/bench_crypto.py [--batches 5] [--state-kb 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signer_core.crypto import backend, ciphers, nip44, secp  # noqa: E402
from signer_core.crypto.hkdf import hkdf  # noqa: E402
from signer_core.vault import sealed  # noqa: E402

BACKENDS = ("native", "pure")


def per_op(fn: Callable[[], object], batches: int, budget: float = 0.25) -> float:
    """Seconds of CPU per call: best batch of ``batches``, each about ``budget`` seconds."""
    fn()
    start = time.process_time()
    fn()
    once = max(time.process_time() - start, 1e-6)
    count = max(1, min(2000, int(budget / once)))
    best = float("inf")
    for _ in range(batches):
        start = time.process_time()
        for _ in range(count):
            fn()
        best = min(best, (time.process_time() - start) / count)
    return best


def first_use_costs() -> dict[str, float]:
    """One-time costs of the pure backend in a fresh interpreter (the lazy tables)."""
    code = (
        "import time, json\n"
        "from signer_core.crypto import backend, ciphers, secp\n"
        "backend.active()  # import the pure modules first: only the tables are timed\n"
        "def t(fn):\n"
        "    s = time.process_time(); fn(); return time.process_time() - s\n"
        "out = {}\n"
        "out['first sign (builds the generator table)'] = t(lambda: secp.schnorr_sign("
        "bytes(32), b'\\x01' * 32, bytes(32)))\n"
        "out['second sign'] = t(lambda: secp.schnorr_sign(bytes(32), b'\\x02' * 32, bytes(32)))\n"
        "out['first AES-GCM open (builds the AES tables)'] = t(lambda: ciphers.aes_gcm_decrypt("
        "bytes(32), bytes(12), bytes(64)))\n"
        "print(json.dumps(out))\n"
    )
    env = dict(os.environ, NWC_CRYPTO="pure")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    costs: dict[str, float] = json.loads(proc.stdout)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--state-kb", type=int, default=20)
    args = parser.parse_args()

    alice, bob = secp.generate_private_key(), secp.generate_private_key()
    bob_pub = secp.xonly_pubkey(bob)
    msg = os.urandom(32)
    sig = secp.schnorr_sign(msg, alice)
    alice_pub = secp.xonly_pubkey(alice)
    conv = nip44.get_conversation_key(alice, bob_pub)
    text = "x" * 200
    gcm_key, gcm_nonce = os.urandom(32), os.urandom(12)
    body = os.urandom(args.state_kb * 1024)  # incompressible: the worst case for the body
    aad = os.urandom(300)
    root = os.urandom(32)
    client_hex = bob_pub.hex()
    state = {"proofs": [os.urandom(40).hex() for _ in range(args.state_kb * 1024 // 84)]}

    results: dict[str, dict[str, float]] = {}
    for name in BACKENDS:
        backend.use(name)
        sealed_body = ciphers.aes_gcm_encrypt(gcm_key, gcm_nonce, body, aad)
        payload = nip44.encrypt(text, conv)
        blob = sealed.seal(
            state, root_secret=root, wallet_id="w", generation=1, dek=sealed.new_dek(),
            connections={"c": client_hex},
        )  # fmt: skip
        (spk,) = sealed.parse(blob).wraps
        ops: dict[str, Callable[[], object]] = {
            "sign (BIP-340)": lambda: secp.schnorr_sign(msg, alice),
            "verify (BIP-340)": lambda: secp.schnorr_verify(msg, sig, alice_pub),
            "ECDH (x-only, unhashed)": lambda: secp.ecdh_x(alice, bob_pub),
            "x-only pubkey": lambda: secp.xonly_pubkey(alice),
            "NIP-44 encrypt + decrypt, 200 B": lambda: nip44.decrypt(
                nip44.encrypt(text, conv), conv
            ),
            "NIP-44 decrypt, 200 B": lambda p=payload: nip44.decrypt(p, conv),  # type: ignore[misc]
            f"AES-GCM seal, {args.state_kb} KB": lambda: ciphers.aes_gcm_encrypt(
                gcm_key, gcm_nonce, body, aad
            ),
            f"AES-GCM open, {args.state_kb} KB": lambda b=sealed_body: ciphers.aes_gcm_decrypt(  # type: ignore[misc]
                gcm_key, gcm_nonce, b, aad
            ),
            "HKDF-SHA256 (stdlib)": lambda: hkdf(root, salt=b"s", info=b"i"),
            f"vault open_with_connection, {args.state_kb} KB JSON": lambda b=blob, s=spk: (  # type: ignore[misc]
                sealed.open_with_connection(
                    b, root_secret=root, service_pubkey_hex=s, client_pubkey_hex=client_hex,
                    expected_wallet_id="w", min_generation=1,
                )
            ),  # fmt: skip
        }
        results[name] = {op: per_op(fn, args.batches) for op, fn in ops.items()}
    backend.use(None)

    print(f"CPU time per operation, {sys.implementation.name} {sys.version.split()[0]}")
    print()
    print("| operation | native | pure | pure / native |")
    print("|---|---:|---:|---:|")
    for op in results["native"]:
        n, p = results["native"][op], results["pure"][op]
        print(f"| {op} | {n * 1e3:.3f} ms | {p * 1e3:.3f} ms | {p / n:.0f}x |")

    print()
    print("One-time costs of the pure backend (fresh interpreter):")
    print()
    for what, seconds in first_use_costs().items():
        print(f"- {what}: {seconds * 1e3:.1f} ms")

    print()
    print("Crypto of one get_balance request (2 verify, 1 ECDH + NIP-44 decrypt,")
    print("1 NIP-44 encrypt, 1 sign, 4 HKDF, 1 AES-GCM open of the state body):")
    print()
    gcm_open = f"AES-GCM open, {args.state_kb} KB"
    mixed = dict(results["pure"])  # Pyodide with its pycryptodome: pure secp256k1 only
    for op in ("NIP-44 encrypt + decrypt, 200 B", "NIP-44 decrypt, 200 B", gcm_open):
        mixed[op] = results["native"][op]
    results["pure secp256k1 + native ciphers"] = mixed
    for name in (*BACKENDS, "pure secp256k1 + native ciphers"):
        r = results[name]
        enc = r["NIP-44 encrypt + decrypt, 200 B"] - r["NIP-44 decrypt, 200 B"]
        total = (
            2 * r["verify (BIP-340)"]
            + r["ECDH (x-only, unhashed)"]
            + r["NIP-44 decrypt, 200 B"]
            + enc
            + r["sign (BIP-340)"]
            + 4 * r["HKDF-SHA256 (stdlib)"]
            + r[gcm_open]
        )
        # the vault also derives the service pubkey and its own conversation key (the KEK)
        vault_extra = r["x-only pubkey"] + r["ECDH (x-only, unhashed)"]
        print(
            f"- {name}: {total * 1e3:.2f} ms as listed; {(total + vault_extra) * 1e3:.2f} ms"
            " with the vault's unwrap (service pubkey + KEK ECDH)"
        )


if __name__ == "__main__":
    main()
