"""Spark wallet backend on breez-sdk-spark in its server mode (build, one operation, disconnect).

Modules:

- ``storage``: the SDK's storage folder packed into the sealed state (tar + zlib + base64)
- ``session``: one SDK build per operation, with a hard time limit on every SDK call
- ``errors``: SDK exceptions -> NIP-47 errors with a useful message
- ``mapping``: SDK payments -> NIP-47 transactions
- ``wallet``: ``SparkWallet``, the ``Wallet`` protocol of ``signer_core.wallets.base``
- ``webhooks``: signature check of Breez/Spark webhooks (HMAC-SHA256 of the raw body)

Nothing here imports ``breez_sdk_spark`` at import time (~360 ms cold): ``session`` imports it
when the first SDK call is made, so a Cashu request never pays for it.
"""
