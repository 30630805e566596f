"""The relay-watcher: an always-on, multi-tenant service that listens on Nostr relays for NWC
requests (kind 23194) addressed to registered wallet-service keys and wakes each wallet's signer
function with a signed webhook (docs/webhook.md); it publishes what the function returns.

It sees only ciphertext and imports nothing of signer_core beyond the protocol helpers
(events, webhook signing, Schnorr). See docs/watcher.md.
"""
