"""Nostr events (NIP-01) as plain dicts: id, signing, strict verification, tag look-ups.

Plain dicts and a TypedDict instead of a model class: events arrive as parsed JSON from the
webhook and leave as JSON, and the cold path should not pay for pydantic or nostr-sdk.
``verify_event`` is the gate for anything from outside: shape first (cheap, precise errors),
then the id, then the BIP-340 signature.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import TypedDict

from signer_core.crypto.secp import InvalidKey, schnorr_sign, schnorr_verify, xonly_pubkey

__all__ = [
    "MAX_CONTENT_BYTES",
    "MAX_TAGS",
    "MAX_TAGS_CHARS",
    "Event",
    "InvalidEvent",
    "compute_event_id",
    "serialize_event",
    "sign_event",
    "tag_value",
    "tag_values",
    "verify_event",
]

MAX_CONTENT_BYTES = 128 * 1024  # a NIP-44 payload of a 64 KiB plaintext is ~87 KiB
MAX_TAGS = 2000
MAX_TAGS_CHARS = 128 * 1024  # summed length of all tag strings
MAX_KIND = 65535
MAX_CREATED_AT = 2**63 - 1

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
_FIELDS = ("id", "pubkey", "created_at", "kind", "tags", "content", "sig")


class Event(TypedDict):
    """A signed NIP-01 event exactly as it travels in JSON."""

    id: str
    pubkey: str
    created_at: int
    kind: int
    tags: list[list[str]]
    content: str
    sig: str


class InvalidEvent(ValueError):
    """An event that is malformed, too large, or whose id or signature does not match."""


def serialize_event(
    pubkey: str, created_at: int, kind: int, tags: Sequence[Sequence[str]], content: str
) -> bytes:
    """The NIP-01 canonical serialization (UTF-8 bytes) that the id is the SHA-256 of."""
    text = json.dumps(
        [0, pubkey, created_at, kind, [list(t) for t in tags], content],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates, e.g. from a "\ud800" JSON escape
        raise InvalidEvent("event contains text that is not valid Unicode") from exc


def compute_event_id(
    pubkey: str, created_at: int, kind: int, tags: Sequence[Sequence[str]], content: str
) -> str:
    """Lower-case hex SHA-256 of the canonical serialization."""
    return hashlib.sha256(serialize_event(pubkey, created_at, kind, tags, content)).hexdigest()


def _check_kind(kind: object) -> int:
    if not isinstance(kind, int) or isinstance(kind, bool):
        raise InvalidEvent("kind must be an integer")
    if not 0 <= kind <= MAX_KIND:
        raise InvalidEvent(f"kind must be in 0..{MAX_KIND}")
    return kind


def _check_created_at(created_at: object) -> int:
    if not isinstance(created_at, int) or isinstance(created_at, bool):
        raise InvalidEvent("created_at must be an integer (unix seconds)")
    if not 0 <= created_at <= MAX_CREATED_AT:
        raise InvalidEvent("created_at out of range")
    return created_at


def _check_content(content: object, max_bytes: int) -> str:
    if not isinstance(content, str):
        raise InvalidEvent("content must be a string")
    # len(str) <= UTF-8 size <= 4 * len(str): skip the encode when the answer is clear.
    if len(content) > max_bytes or (
        4 * len(content) > max_bytes and len(content.encode("utf-8", "surrogatepass")) > max_bytes
    ):
        raise InvalidEvent(f"content larger than {max_bytes} bytes")
    return content


def _check_tags(tags: object) -> list[list[str]]:
    if not isinstance(tags, list):
        raise InvalidEvent("tags must be a list")
    if len(tags) > MAX_TAGS:
        raise InvalidEvent(f"more than {MAX_TAGS} tags")
    out: list[list[str]] = []
    total = 0
    for i, tag in enumerate(tags):
        if not isinstance(tag, list):
            raise InvalidEvent(f"tag {i} must be a list")
        for item in tag:
            if not isinstance(item, str):
                raise InvalidEvent(f"tag {i} must contain only strings")
            total += len(item)
        if total > MAX_TAGS_CHARS:
            raise InvalidEvent(f"tags longer than {MAX_TAGS_CHARS} characters in total")
        out.append(list(tag))
    return out


def _check_hex(value: object, pattern: re.Pattern[str], field: str, size: int) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise InvalidEvent(f"{field} must be {size} lower-case hex characters")
    return value


def sign_event(
    privkey: bytes,
    kind: int,
    content: str,
    tags: Sequence[Sequence[str]] = (),
    created_at: int | None = None,
) -> Event:
    """A complete signed event from our key (created_at defaults to now)."""
    kind = _check_kind(kind)
    created = _check_created_at(int(time.time()) if created_at is None else created_at)
    content = _check_content(content, MAX_CONTENT_BYTES)
    tag_list = _check_tags([list(t) if not isinstance(t, str) else t for t in tags])
    try:
        pubkey = xonly_pubkey(privkey).hex()
    except InvalidKey as exc:
        raise InvalidEvent(f"cannot sign: {exc}") from exc
    event_id = compute_event_id(pubkey, created, kind, tag_list, content)
    sig = schnorr_sign(bytes.fromhex(event_id), privkey).hex()
    return Event(
        id=event_id,
        pubkey=pubkey,
        created_at=created,
        kind=kind,
        tags=tag_list,
        content=content,
        sig=sig,
    )


def verify_event(obj: object, *, max_content_bytes: int = MAX_CONTENT_BYTES) -> Event:
    """Validate shape, id and signature of an untrusted event; returns a clean copy.

    Unknown extra keys are dropped from the returned event (they are not covered by the id).
    """
    if not isinstance(obj, Mapping):
        raise InvalidEvent("event must be a JSON object")
    missing = [f for f in _FIELDS if f not in obj]
    if missing:
        raise InvalidEvent(f"event is missing field(s): {', '.join(missing)}")
    event_id = _check_hex(obj["id"], _HEX64, "id", 64)
    pubkey = _check_hex(obj["pubkey"], _HEX64, "pubkey", 64)
    sig = _check_hex(obj["sig"], _HEX128, "sig", 128)
    created_at = _check_created_at(obj["created_at"])
    kind = _check_kind(obj["kind"])
    tags = _check_tags(obj["tags"])
    content = _check_content(obj["content"], max_content_bytes)
    if compute_event_id(pubkey, created_at, kind, tags, content) != event_id:
        raise InvalidEvent("id does not match the event's content")
    if not schnorr_verify(bytes.fromhex(event_id), bytes.fromhex(sig), bytes.fromhex(pubkey)):
        raise InvalidEvent("invalid signature")
    return Event(
        id=event_id,
        pubkey=pubkey,
        created_at=created_at,
        kind=kind,
        tags=tags,
        content=content,
        sig=sig,
    )


def tag_value(event: Mapping[str, object], name: str) -> str | None:
    """Second element of the first tag called ``name`` (e.g. the ``p`` tag), else None."""
    for tag in _tags(event):
        if len(tag) >= 2 and tag[0] == name:
            return tag[1]
    return None


def tag_values(event: Mapping[str, object], name: str) -> list[str]:
    """Second elements of every tag called ``name``, in order."""
    return [tag[1] for tag in _tags(event) if len(tag) >= 2 and tag[0] == name]


def _tags(event: Mapping[str, object]) -> list[list[str]]:
    tags = event.get("tags")
    if not isinstance(tags, list):
        return []
    return [t for t in tags if isinstance(t, list) and all(isinstance(x, str) for x in t)]
