"""The Vercel Blob state store and rollback guard against the loopback fake of the Blob API
(whose requests tests/test_vercel_blob_sdk.py checks against the real @vercel/blob SDK):
compare-and-swap on the ETag, create-only, the origin read (never the CDN's stale copy),
weak ETags, outages, and the token kept out of every message."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from signer_core.stores.base import StoreUnavailable, VersionConflict
from signer_core.stores.vercel_blob import VercelBlobGuard, VercelBlobStore, store_id_of
from tests.vercel_blob_api import BlobApiFake

PATH = "nwc-signer/w1/wallet.sealed"


@pytest.fixture
def fake() -> Iterator[BlobApiFake]:
    with BlobApiFake() as fake:
        yield fake


def store(fake: BlobApiFake, pathname: str = PATH) -> VercelBlobStore:
    return VercelBlobStore(
        fake.token, pathname, api_url=fake.api_url, store_url=fake.url, backoff_s=0.01
    )


def test_compare_and_swap_round(fake: BlobApiFake) -> None:
    s = store(fake)
    assert s.read() is None
    v1 = s.write(b"one", None)
    assert v1.startswith('"') and s.read() == (b"one", v1)
    v2 = s.write(b"two", v1)
    assert v2 != v1 and s.read() == (b"two", v2)
    with pytest.raises(VersionConflict):
        s.write(b"stale", v1)  # 412 precondition_failed
    with pytest.raises(VersionConflict):
        s.write(b"again", None)  # create-only on an existing blob: 400 "already exists"
    assert s.read() == (b"two", v2)


def test_replace_of_a_removed_blob_is_a_conflict(fake: BlobApiFake) -> None:
    s = store(fake)
    v1 = s.write(b"one", None)
    del fake.blobs[PATH]
    with pytest.raises(VersionConflict):
        s.write(b"two", v1)
    assert s.read() is None


def test_the_requests_say_what_the_sdk_says(fake: BlobApiFake) -> None:
    s = store(fake)
    v1 = s.write(b"one", None)
    s.write(b"two", v1)
    s.read()
    create, replace, read = fake.requests
    assert (create.method, create.path, create.query) == ("PUT", "/api/blob/", [("pathname", PATH)])
    assert create.headers["x-allow-overwrite"] == "0" and "x-if-match" not in create.headers
    assert create.headers["x-vercel-blob-access"] == "private"
    assert replace.headers["x-if-match"] == v1 and replace.headers["x-allow-overwrite"] == "1"
    assert (read.method, read.path, read.query) == ("GET", "/" + PATH, [("cache", "0")])
    for r in fake.requests:
        assert r.headers["authorization"] == f"Bearer {fake.token}"


def test_reads_go_to_the_origin_not_the_cdn_copy(fake: BlobApiFake) -> None:
    """A default read may be served the overwritten version for 60 s: the store would then
    see an old generation (a false rollback alarm) or loop on 412. It asks for cache=0."""
    fake.stale_reads = True
    s = store(fake)
    v1 = s.write(b"one", None)
    v2 = s.write(b"two", v1)
    assert s.read() == (b"two", v2)


def test_a_weak_etag_is_confirmed_by_the_metadata(fake: BlobApiFake) -> None:
    fake.weak_etags = True
    s = store(fake)
    v1 = s.write(b"one", None)
    assert s.read() == (b"one", v1)  # the strong tag, usable as x-if-match
    s.write(b"two", v1)


def test_concurrent_writers_one_wins(fake: BlobApiFake) -> None:
    s = store(fake)
    v1 = s.write(b"base", None)
    outcomes: list[str] = []

    def writer(i: int) -> None:
        try:
            store(fake).write(f"w{i}".encode(), v1)
            outcomes.append("won")
        except VersionConflict:
            outcomes.append("lost")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]


def test_outages_are_unavailable_and_never_leak_the_token(fake: BlobApiFake) -> None:
    s = store(fake)
    v1 = s.write(b"one", None)
    with fake.fault("read_down", PATH) as count:
        with pytest.raises(StoreUnavailable) as exc:
            s.read()
        assert count() == 3  # retried as the SDK retries a 5xx
    with fake.fault("write_down", PATH), pytest.raises(StoreUnavailable):
        s.write(b"two", v1)
    bad = VercelBlobStore(fake.token[:-1] + "x", PATH, api_url=fake.api_url, store_url=fake.url)
    with pytest.raises(StoreUnavailable) as denied:
        bad.write(b"two", v1)  # 403 forbidden: a deploy mistake, not a conflict
    for text in (str(exc.value), str(denied.value), repr(s)):
        assert fake.token not in text and fake.token.split("_")[-1] not in text
    dead = VercelBlobStore(fake.token, PATH, api_url="http://127.0.0.1:9", store_url="http://127.0.0.1:9",
                           backoff_s=0.01)  # fmt: skip
    with pytest.raises(StoreUnavailable):
        dead.read()


def test_token_store_id_is_parsed_like_the_sdk() -> None:
    assert store_id_of("vercel_blob_rw_AbC123_secretpart") == "AbC123"
    for bad in ("", "vercel_blob_rw_", "not-a-token", "vercel_blob_rw_a/b_c"):
        with pytest.raises(ValueError):
            store_id_of(bad)


def test_versions_the_store_never_returned_are_refused(fake: BlobApiFake) -> None:
    s = store(fake)
    s.write(b"one", None)
    for bad in ("abc", '"*"', 'W/"x"', ""):
        with pytest.raises(ValueError):
            s.write(b"two", bad)


def test_guard_is_monotonic_and_concurrent_advances_keep_the_highest(fake: BlobApiFake) -> None:
    guard = VercelBlobGuard(store(fake, "nwc-signer/w1/generation"))
    assert guard.high_water() == 0
    guard.advance(5)
    guard.advance(3)
    assert guard.high_water() == 5
    threads = [threading.Thread(target=guard.advance, args=(g,)) for g in range(6, 14)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert guard.high_water() == 13
    fake.blobs["nwc-signer/w1/generation"].body = b"12x\n"
    with pytest.raises(StoreUnavailable):
        guard.high_water()
