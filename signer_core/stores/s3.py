"""S3 state store (compare-and-swap with conditional PutObject) and a DynamoDB rollback guard.

Follows the mapping in ``stores/base.py`` exactly:

    read()                  GetObject -> (body, ETag); NoSuchKey / 404 -> None
    write(blob, None)       PutObject(IfNoneMatch="*")
    write(blob, etag)       PutObject(IfMatch=etag)
    412 PreconditionFailed  -> VersionConflict at once: the blob was built from a stale read,
                               so the only correct retry is the pipeline's re-read + re-apply
    409 ConditionalRequestConflict -> retried here (a conditional put re-checks its condition,
                               so repeating it can never overwrite a newer blob), then
                               VersionConflict
    404 on IfMatch          -> VersionConflict (the object is gone; S3's quirk, not a 412)
    throttling, 5xx, timeouts, connection errors -> StoreUnavailable (pipeline answers 503)

The guard is one DynamoDB item (in the idempotency table, without the TTL attribute so it is
never expired) raised with ``generation < :g`` as a condition, so it never decreases.

boto3 is imported lazily, inside the classes: nothing in signer_core imports a cloud SDK at
module import time (the local runtime and Cloudflare never pay for it). Callers may pass
their own clients (the Lambda entry point shares one per service across warm invocations).
"""

from __future__ import annotations

import time
from typing import Any

from signer_core.stores.base import StoreUnavailable, VersionConflict

__all__ = ["DynamoDBGenerationGuard", "S3Store", "client_config"]

_CONFLICT_CODES = {"PreconditionFailed", "412"}
_RETRYABLE_CONFLICT = {"ConditionalRequestConflict", "409"}
_MISSING = {"NoSuchKey", "404", "NotFound"}


def client_config() -> Any:
    """Short timeouts and botocore's standard retries (throttling, 5xx, resets): a stuck
    store must end in a 503 well inside the function's time limit, not a Lambda time-out."""
    from botocore.config import Config

    return Config(
        connect_timeout=2,
        read_timeout=5,
        retries={"mode": "standard", "max_attempts": 3},
    )


def _client(service: str, client: Any, endpoint_url: str | None, region: str | None) -> Any:
    if client is not None:
        return client
    import boto3

    return boto3.client(
        service, endpoint_url=endpoint_url, region_name=region, config=client_config()
    )


def _error_code(exc: Exception) -> tuple[str, int]:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def _is_client_error(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError)


def _is_sdk_error(exc: Exception) -> bool:
    """Any botocore failure: a ClientError, or a transport error (BotoCoreError)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, BotoCoreError | ClientError)


class S3Store:
    """``StateStore`` on one S3 object (``s3://bucket/key``); the version is its ETag."""

    def __init__(
        self,
        bucket: str,
        key: str,
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        conflict_retries: int = 3,
        conflict_backoff_s: float = 0.05,
    ) -> None:
        self.bucket = bucket
        self.key = key
        self._given = client
        self._endpoint_url = endpoint_url
        self._region = region
        self._s3: Any = None
        self.conflict_retries = conflict_retries
        self.conflict_backoff_s = conflict_backoff_s

    @property
    def client(self) -> Any:
        if self._s3 is None:
            self._s3 = _client("s3", self._given, self._endpoint_url, self._region)
        return self._s3

    def read(self) -> tuple[bytes, str] | None:
        try:
            res = self.client.get_object(Bucket=self.bucket, Key=self.key)
            blob: bytes = res["Body"].read()
        except Exception as exc:
            if not _is_sdk_error(exc):
                raise
            code, status = _error_code(exc)
            if code in _MISSING or status == 404:
                return None
            where = f"s3://{self.bucket}/{self.key}"
            raise StoreUnavailable(f"cannot read {where}: {code or exc}") from exc
        return blob, str(res["ETag"])

    def write(self, blob: bytes, expected_version: str | None) -> str:
        if not isinstance(blob, bytes):
            raise TypeError("blob must be bytes")
        condition = (
            {"IfNoneMatch": "*"} if expected_version is None else {"IfMatch": expected_version}
        )
        for attempt in range(self.conflict_retries + 1):
            try:
                res = self.client.put_object(
                    Bucket=self.bucket,
                    Key=self.key,
                    Body=blob,
                    ContentType="application/octet-stream",
                    **condition,
                )
                return str(res["ETag"])
            except Exception as exc:
                if not _is_sdk_error(exc):
                    raise
                code, status = _error_code(exc)
                if code in _CONFLICT_CODES or status == 412:
                    raise VersionConflict("the state blob changed since it was read") from None
                if code in _RETRYABLE_CONFLICT or (status == 409 and _is_client_error(exc)):
                    if attempt < self.conflict_retries:
                        time.sleep(self.conflict_backoff_s * (2**attempt))
                        continue
                    raise VersionConflict("concurrent conditional writes conflicted") from None
                if expected_version is not None and (code in _MISSING or status == 404):
                    raise VersionConflict("no state blob to replace (it was removed)") from None
                raise StoreUnavailable(
                    f"cannot write s3://{self.bucket}/{self.key}: {code or exc}"
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover


class DynamoDBGenerationGuard:
    """``GenerationGuard`` as one DynamoDB item ``{id: <item_id>, generation: N}``."""

    def __init__(
        self,
        table: str,
        item_id: str,
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        key_attr: str = "id",
    ) -> None:
        self.table = table
        self.item_id = item_id
        self.key_attr = key_attr
        self._given = client
        self._endpoint_url = endpoint_url
        self._region = region
        self._ddb: Any = None

    @property
    def client(self) -> Any:
        if self._ddb is None:
            self._ddb = _client("dynamodb", self._given, self._endpoint_url, self._region)
        return self._ddb

    def _key(self) -> dict[str, Any]:
        return {self.key_attr: {"S": self.item_id}}

    def high_water(self) -> int:
        try:
            res = self.client.get_item(
                TableName=self.table,
                Key=self._key(),
                ConsistentRead=True,
                ProjectionExpression="generation",
            )
        except Exception as exc:
            if not _is_sdk_error(exc):
                raise
            code = _error_code(exc)[0]
            raise StoreUnavailable(f"cannot read the generation guard: {code or exc}") from exc
        raw = res.get("Item", {}).get("generation", {}).get("N")
        if raw is None:
            return 0
        if not str(raw).isdigit():
            raise StoreUnavailable("the generation guard item is corrupt; refusing to guess")
        return int(raw)

    def advance(self, generation: int) -> None:
        if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
            raise ValueError("generation must be a non-negative integer")
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(),
                UpdateExpression="SET generation = :g",
                ConditionExpression="attribute_not_exists(generation) OR generation < :g",
                ExpressionAttributeValues={":g": {"N": str(generation)}},
            )
        except Exception as exc:
            if not _is_sdk_error(exc):
                raise
            code, _ = _error_code(exc)
            if code == "ConditionalCheckFailedException":
                return  # already at or above: never lowered
            raise StoreUnavailable(f"cannot advance the generation guard: {code or exc}") from exc
