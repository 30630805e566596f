"""Nostr and Lightning wire formats: events (NIP-01), NWC payloads, BOLT-11 invoices.

Kept free of heavy imports (no pydantic, nostr-sdk or httpx) so the relay-watcher and the
cold-started signer can both use it cheaply.
"""
