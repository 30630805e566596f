"""The deploy steps the onboarding service runs one by one (deploy/cloudflare/steps.py):
a bucket holding another wallet is refused before any upload or secret (the service's
"name taken" answer), and a failed step re-run alone finishes the deploy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploy.cloudflare import api as cf_api
from deploy.cloudflare import bundle, setup
from deploy.cloudflare.steps import Deployment
from tests.cloudflare_api import FakeCloudflare

TOKEN = "cf-steps-token"  # noqa: S105
MINT = "http://127.0.0.1:1"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> bundle.Bundle:
    return bundle.build(tmp_path_factory.mktemp("cf") / "bundle")


@pytest.fixture
def fake() -> Any:
    with FakeCloudflare(token=TOKEN) as f:
        yield f


def target(folder: Path, built: bundle.Bundle) -> setup.Target:
    return setup.Target(data_dir=folder, watcher_pubkey="ab" * 32, mint_url=MINT,
                        relays=["ws://127.0.0.1:1"], out_dir=built.src.parent)  # fmt: skip


def test_another_wallets_bucket_is_refused_before_upload_and_secrets(
    tmp_path: Path, built: bundle.Bundle, fake: FakeCloudflare
) -> None:
    api = cf_api.Api(TOKEN, "acc1", base_url=fake.base_url, strict=True)
    setup.deploy(api, target(tmp_path / "a", built), say=lambda s: None)
    script = fake.scripts["nwc-signer"]
    theirs = (dict(script.secrets), script.uploads, fake.buckets["nwc-signer-state"].copy())
    with pytest.raises(setup.WalletMismatch):
        setup.deploy(api, target(tmp_path / "b", built), say=lambda s: None)
    assert (script.secrets, script.uploads, fake.buckets["nwc-signer-state"]) == theirs
    assert not (tmp_path / "b").exists()  # no wallet made for nothing


def test_a_failed_step_rerun_alone_finishes(
    tmp_path: Path, built: bundle.Bundle, fake: FakeCloudflare
) -> None:
    api = cf_api.Api(TOKEN, "acc1", base_url=fake.base_url, strict=True)
    d = Deployment(api, target(tmp_path / "w", built), built=built, say=lambda s: None)
    fake.fail[r"PUT .*/secrets$"] = (500, 10013, "An unknown error has occurred")
    done = []
    for step in Deployment.STEPS:
        try:
            d.run(step)
            done.append(step)
        except cf_api.CloudflareError:
            break
    assert done == ["build", "account", "bucket", "database", "upload", "wallet"]
    fake.fail.clear()
    for step in Deployment.STEPS[len(done) :]:
        d.run(step)
    assert fake.scripts["nwc-signer"].uploads == 1
    assert set(fake.scripts["nwc-signer"].secrets) == {"ROOT_SECRET", "WALLET_ID"}
    assert "wallet.sealed" in fake.buckets["nwc-signer-state"] and d.uri and d.created
