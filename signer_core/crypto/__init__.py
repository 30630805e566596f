"""Crypto in one place: BIP-340 Schnorr, x-only ECDH, HKDF, NIP-44 v2 and NIP-04.

The native implementation uses coincurve (libsecp256k1) and pycryptodome: nostr-sdk costs
~300 ms to import on this machine, coincurve ~20 ms, which decides the cold path. A later
pure-Python implementation for Pyodide goes behind the same functions.
"""
