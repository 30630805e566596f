"""S3 compare-and-swap store and DynamoDB generation guard on moto (in-process mock_aws)."""

from __future__ import annotations

import subprocess
import sys
import threading

import boto3
import pytest
from moto import mock_aws

from signer_core.stores.base import StoreUnavailable, VersionConflict
from signer_core.stores.s3 import DynamoDBGenerationGuard, S3Store

BUCKET, TABLE = "nwc-test-state", "nwc-test-idem"


@pytest.fixture
def aws(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield


def test_importing_the_s3_store_does_not_import_boto3() -> None:
    code = (
        "import sys, signer_core.stores.s3, signer_core.pipeline, functions.aws_lambda.settings;"
        "bad = [m for m in ('boto3', 'botocore', 'aws_lambda_powertools') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compare_and_swap(aws) -> None:
    store = S3Store(BUCKET, "w.sealed")
    assert store.read() is None
    v1 = store.write(b"one", None)
    with pytest.raises(VersionConflict):
        store.write(b"again", None)  # create-only: IfNoneMatch="*" answers 412
    v2 = store.write(b"two", v1)
    assert store.read() == (b"two", v2) and v2 != v1
    with pytest.raises(VersionConflict):
        store.write(b"stale", v1)  # IfMatch on an old ETag: 412
    assert store.read() == (b"two", v2)
    with pytest.raises(VersionConflict):  # IfMatch on a missing key answers 404, not 412
        S3Store(BUCKET, "gone.sealed").write(b"x", v2)
    assert S3Store(BUCKET, "gone.sealed").read() is None


def test_stale_writers_retry_on_fresh_reads_and_nothing_is_lost(aws) -> None:
    """Eight writers append to one blob; each re-reads and retries on VersionConflict."""
    store = S3Store(BUCKET, "list.sealed")
    store.write(b"", None)

    def append(item: bytes) -> None:
        while True:
            blob, version = store.read()
            try:
                store.write(blob + item, version)
                return
            except VersionConflict:
                continue

    threads = [threading.Thread(target=append, args=(bytes([65 + i]),)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(store.read()[0]) == list(range(65, 73))


def test_an_unreachable_store_is_unavailable_not_a_conflict() -> None:
    from nwc_signer.dev.process import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    store = S3Store(BUCKET, "k", endpoint_url=dead, region="us-east-1")
    with pytest.raises(StoreUnavailable):
        store.read()
    with pytest.raises(StoreUnavailable):
        store.write(b"x", None)
    with pytest.raises(StoreUnavailable):
        DynamoDBGenerationGuard(TABLE, "g", endpoint_url=dead, region="us-east-1").high_water()


def test_the_generation_guard_never_decreases(aws) -> None:
    guard = DynamoDBGenerationGuard(TABLE, "nwc-signer#generation#w1")
    assert guard.high_water() == 0
    guard.advance(3)
    guard.advance(2)  # a conditional update that does not match: ignored, not an error
    guard.advance(3)
    assert guard.high_water() == 3
    guard.advance(7)
    assert guard.high_water() == 7
    assert DynamoDBGenerationGuard(TABLE, "other").high_water() == 0
    with pytest.raises(ValueError):
        guard.advance(-1)
    item = boto3.client("dynamodb").get_item(
        TableName=TABLE, Key={"id": {"S": "nwc-signer#generation#w1"}}
    )["Item"]
    assert "expiration" not in item  # never expired by the table's TTL
