"""A lean Cashu wallet (NUT-00..05, 07, 08, 09, 12, 13) over httpx, state kept in a dict.

Modules, smallest first:

- ``dhke``: blind Diffie-Hellman key exchange (NUT-00) and DLEQ proofs (NUT-12)
- ``nut13``: deterministic secrets and blinding factors from the seed (NUT-13)
- ``amounts``: power-of-two splits, input fees (NUT-02), proof selection
- ``client``: thin HTTP calls to the mint; httpx is imported on the first call only
- ``state``: the JSON-serialisable wallet state (proofs, counters, quotes, tx log)
- ``core``: keysets, deterministic outputs, signatures -> proofs, swaps, self-healing
- ``incoming``: mint quotes (make_invoice) and the sync loop that mints paid ones
- ``prepare``: melt quote, input selection (swap when needed), reservation
- ``payments``: send / reconcile / cancel of a prepared melt, NUT-08 change
- ``wallet``: ``CashuWallet``, the ``Wallet`` protocol of ``signer_core.wallets.base``

Nothing here is imported by this package file, so opening a Cashu wallet costs only what
``wallet`` needs.
"""
