"""State storage behind small interfaces (``base``); the local folder store in ``local``.

Cloud stores (S3, R2) live in their own modules and import their SDKs lazily.
"""

from signer_core.stores.base import (
    GenerationGuard,
    StateStore,
    StoreError,
    StoreUnavailable,
    VersionConflict,
)

__all__ = ["GenerationGuard", "StateStore", "StoreError", "StoreUnavailable", "VersionConflict"]
