"""The watcher's Spark hook route in process, on its real database: who may wake a wallet,
how bursts coalesce, and that every refusal is a 4xx."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from relay_watcher.api import create_app
from relay_watcher.hooks import COALESCE_S, PER_CLIENT_PER_MIN, PER_WALLET_PER_MIN
from relay_watcher.service import Watcher
from signer_core.protocol.sparkhook import PATH_PREFIX, hook_token
from tests.test_watcher_unit import make, register, signed


@pytest.fixture
def watcher(tmp_path: Path) -> Watcher:
    return make(tmp_path / "watcher.db")


def registered(w: Watcher) -> tuple[str, str]:
    """A wallet registered at the watcher: (its hook path, its pubkey)."""
    reg = os.urandom(32)
    assert register(w, *signed(reg, [os.urandom(32)])) == 200
    wallet, token = hook_token(reg)
    return PATH_PREFIX + wallet + "/" + token, wallet


def wake_job(w: Watcher, wallet: str) -> bool:
    return w.db.base.one("SELECT 1 FROM jobs WHERE id = ?", (f"wake:{wallet}",)) is not None


def wake_at(w: Watcher, wallet: str) -> int | None:
    row = w.db.base.one("SELECT wake_at FROM wallets WHERE wallet_pubkey = ?", (wallet,))
    return None if row is None or row[0] is None else int(row[0])


def test_a_hook_queues_one_wake_up_and_a_burst_coalesces(watcher: Watcher) -> None:
    path, wallet = registered(watcher)
    client = TestClient(create_app(watcher))
    assert not wake_job(watcher, wallet)
    first = client.post(path, content=b'{"type":"LIGHTNING_RECEIVE_FINISHED"}')
    assert first.status_code == 202 and wake_job(watcher, wallet)
    before = int(time.time())
    second = client.post(path, content=b"{}")
    assert second.status_code == 202 and "coalesced" in second.json()["message"]
    follow_up = wake_at(watcher, wallet)  # one more look after the window, not one per hook
    assert follow_up is not None and follow_up <= before + COALESCE_S


def test_strangers_get_4xx_and_wake_nobody(watcher: Watcher) -> None:
    path, wallet = registered(watcher)
    other_path, _ = registered(watcher)
    client = TestClient(create_app(watcher))
    other_token = other_path.rsplit("/", 1)[1]
    forged = [
        path[:-2] + ("00" if not path.endswith("00") else "11"),  # a token that is not valid
        PATH_PREFIX + wallet + "/" + other_token,  # another wallet's token
        PATH_PREFIX + "zz" * 32 + "/" + "00" * 64,  # not hex
        PATH_PREFIX + wallet + "/" + "0" * 5000,  # absurd length
        PATH_PREFIX + wallet,  # no token
    ]
    for bad in forged:
        assert client.post(bad, content=b"{}").status_code in (404, 405), bad
    unknown = hook_token(bytes.fromhex("11" * 32))  # a valid token of a wallet never registered
    assert client.post(PATH_PREFIX + unknown[0] + "/" + unknown[1]).status_code == 404
    assert client.post(path, content=b"x" * 70_000).status_code == 413
    assert not wake_job(watcher, wallet)
    watcher.db.tenants.suspend(wallet, "test", int(time.time()))
    assert client.post(path, content=b"{}").status_code == 403


def test_hooks_are_rate_limited_per_wallet_and_guessers_per_address(watcher: Watcher) -> None:
    path, _ = registered(watcher)
    other, _ = registered(watcher)
    client = TestClient(create_app(watcher))
    answers = [client.post(path, content=b"{}") for _ in range(int(PER_WALLET_PER_MIN))]
    limited = [a for a in answers if a.status_code == 429]
    assert limited and int(limited[0].headers["Retry-After"]) >= 1
    assert all(a.status_code in (202, 429) for a in answers)
    assert client.post(other, content=b"{}").status_code == 202  # other wallets go on
    guesses = [client.post(other[:-4] + f"{i:04x}") for i in range(int(PER_CLIENT_PER_MIN))]
    assert {g.status_code for g in guesses} == {404, 429}
