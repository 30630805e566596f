"""The fake Blob API checked against the real `@vercel/blob` SDK (npm, pinned in
functions/vercel/package.json, run in Node by functions/vercel/sdk_check.mjs): the same
operations — create-only put, put with ifMatch, a stale ifMatch, a second create, a
consistent private get, head — are made once by the SDK and once by our VercelBlobStore,
each against a fresh fake, and the recorded requests must agree header for header. The SDK
must also read the fake's answers as it reads the service's (412 ->
BlobPreconditionFailedError, "already exists" -> its message), so the fake's semantics are
the ones the SDK expects."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from signer_core.stores.base import VersionConflict
from signer_core.stores.vercel_blob import VercelBlobStore
from tests.vercel_blob_api import BlobApiFake, Recorded

ROOT = Path(__file__).resolve().parents[1]
HOST = ROOT / "functions" / "vercel"
PATH = "nwc-signer/w1/wallet.sealed"
# headers a client library sets for itself (fetch vs httpx), not part of the Blob API
TRANSPORT = {
    "host", "user-agent", "accept", "accept-encoding", "accept-language", "connection",
    "content-length", "content-type", "sec-fetch-mode", "transfer-encoding",
}  # fmt: skip


def node() -> str | None:
    bundled = ROOT / "functions" / "cloudflare" / "node_modules" / ".bin" / "node"
    return str(bundled) if bundled.exists() else shutil.which("node")


def sdk_missing() -> str | None:
    failed = HOST / ".bootstrap-failed"
    if failed.exists():
        return f"scripts/bootstrap.sh could not install it: {failed.read_text().strip()}"
    if not (HOST / "node_modules" / "@vercel" / "blob" / "package.json").exists():
        return "functions/vercel/node_modules is missing: run `bash scripts/bootstrap.sh`"
    if node() is None:
        return "no node binary (functions/cloudflare's or on PATH)"
    return None


def run_sdk(fake: BlobApiFake) -> dict[str, object]:
    env = {
        **os.environ,
        "VERCEL_BLOB_API_URL": fake.api_url,
        "BLOB_READ_WRITE_TOKEN": fake.token,
        "VERCEL_BLOB_RETRIES": "0",
        "FAKE_ORIGIN": fake.url,
        "BLOB_PATHNAME": PATH,
    }
    done = subprocess.run(
        [str(node()), "sdk_check.mjs"], cwd=HOST, env=env, capture_output=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    result: dict[str, object] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def run_ours(fake: BlobApiFake) -> None:
    store = VercelBlobStore(fake.token, PATH, api_url=fake.api_url, store_url=fake.url)
    created = store.write(b"one", None)
    store.write(b"two", created)
    with pytest.raises(VersionConflict):
        store.write(b"x", created)
    with pytest.raises(VersionConflict):
        store.write(b"y", None)
    store.read()
    store._head_etag()  # what a read does when the content came with a weak tag


def api_headers(r: Recorded) -> dict[str, str]:
    return {k: v for k, v in r.headers.items() if k not in TRANSPORT}


@pytest.fixture(scope="module")
def traffic() -> tuple[dict[str, object], list[Recorded], list[Recorded]]:
    missing = sdk_missing()
    if missing:
        pytest.skip(f"the @vercel/blob SDK is not installed: {missing}")
    with BlobApiFake() as fake:
        outcome = run_sdk(fake)
        sdk = list(fake.requests)
    with BlobApiFake() as fake:
        run_ours(fake)
        ours = list(fake.requests)
    return outcome, sdk, ours


def test_the_sdk_reads_the_fakes_answers_as_the_services(
    traffic: tuple[dict[str, object], list[Recorded], list[Recorded]],
) -> None:
    outcome, _, _ = traffic
    assert outcome["stale"] == {
        "error": "BlobPreconditionFailedError",
        "message": "Vercel Blob: Precondition failed: ETag mismatch.",
    }
    again = outcome["again"]
    assert isinstance(again, dict) and again["error"] == "BlobError"
    assert "This blob already exists" in str(again["message"])
    assert outcome["read"] == {"body": "two", "etag": outcome["replaced"]}
    assert outcome["head"] == outcome["replaced"] != outcome["created"]
    assert outcome["hosts"] == ["fakestore1.private.blob.vercel-storage.com"]


def test_our_requests_are_the_sdks(
    traffic: tuple[dict[str, object], list[Recorded], list[Recorded]],
) -> None:
    _, sdk, ours = traffic
    assert [(r.method, r.path, r.query) for r in ours] == [(r.method, r.path, r.query) for r in sdk]
    for theirs, mine in zip(sdk, ours, strict=True):
        expected, got = api_headers(theirs), api_headers(mine)
        for h in (expected, got):  # per-request random ids: same shape, not same value
            if "x-api-blob-request-id" in h:
                assert re.fullmatch(r"fakestore1:\d{13}:[0-9a-f]+", h["x-api-blob-request-id"])
                h["x-api-blob-request-id"] = "<id>"
        assert got == expected, (theirs.method, theirs.path)
        assert mine.body == theirs.body
