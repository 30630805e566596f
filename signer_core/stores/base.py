"""Storage interfaces: the versioned state blob store and the rollback high-water mark.

``StateStore`` holds one sealed blob per wallet and offers compare-and-swap on an opaque
version. The mapping onto S3 (the future S3 store must follow it exactly):

    read()                       GetObject -> (body, ETag); NoSuchKey / 404 -> None
    write(blob, None)            PutObject(IfNoneMatch="*")       create only if absent
    write(blob, version)         PutObject(IfMatch=version)       replace only if unchanged
    412 PreconditionFailed       -> VersionConflict
    409 ConditionalRequestConflict (a concurrent conditional write) -> VersionConflict
    404 on a write with IfMatch  (the object is gone)               -> VersionConflict
    throttling, 5xx, timeouts, connection errors                    -> StoreUnavailable

``VersionConflict`` means "someone else wrote first": re-read, re-apply, retry.
``StoreUnavailable`` means an outage: the pipeline answers 503 and the watcher retries later.

``GenerationGuard`` keeps the highest state generation the signer has seen, OUTSIDE the
object store (locally a small file next to the root secret; on Lambda a DynamoDB item, which
must use a conditional update ``generation < :g`` so it never decreases). Someone who can
write the object store cannot lower it, so an old blob put back is refused as rolled back.
"""

from __future__ import annotations

from typing import Protocol

__all__ = [
    "GenerationGuard",
    "StateStore",
    "StoreError",
    "StoreUnavailable",
    "VersionConflict",
]


class StoreError(Exception):
    """Base class of storage failures."""


class VersionConflict(StoreError):
    """The compare-and-swap failed: the stored version is not the expected one (or the blob
    exists on a create-only write, or is missing on a replace). Re-read and retry."""


class StoreUnavailable(StoreError):
    """The store could not be reached or read/written (I/O outage): retry later (503)."""


class StateStore(Protocol):
    """One versioned blob with compare-and-swap writes."""

    def read(self) -> tuple[bytes, str] | None:
        """The current blob and its opaque version, or None when no blob exists yet."""
        ...

    def write(self, blob: bytes, expected_version: str | None) -> str:
        """Store ``blob`` if the current version equals ``expected_version`` and return the
        new version. ``expected_version=None`` creates only if no blob exists (S3
        ``IfNoneMatch="*"``); otherwise replaces only if the current version matches (S3
        ``IfMatch``). Raises ``VersionConflict`` on any mismatch (including a missing blob
        when a version was expected) and ``StoreUnavailable`` on I/O failures; after either,
        the stored blob is unchanged or is someone else's complete write, never partial."""
        ...


class GenerationGuard(Protocol):
    """The rollback high-water mark: monotonic, kept outside the object store."""

    def high_water(self) -> int:
        """The highest generation recorded so far (0 when none)."""
        ...

    def advance(self, generation: int) -> None:
        """Raise the mark to ``generation`` if that is higher; never lowers it."""
        ...
