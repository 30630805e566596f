"""A deployed Spark wallet registers its Breez webhook: the hook URL travels with the wallet
(in its sealed state) from the deploy command's --watcher-url, since a deployed function has
no wallet config. The Vercel deploy against its loopback fake API (tests/vercel_api.py),
then the deployed function's own settings (functions/vercel/api/webhook.py's Runtime, over
the fake Blob store) running a wake-up, with the SDK double (tests/spark_double.py)."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import breez_sdk_spark as b
import pytest

from deploy.vercel import setup
from signer_core.attempt import Deps
from signer_core.pipeline import handle_delivery
from signer_core.protocol import sparkhook
from signer_core.protocol.webhook import wake_delivery
from signer_core.vault.keys import registration_secret
from signer_core.wallets.spark import hook
from tests.spark_double import FakeSpark
from tests.test_deploy_vercel import _source, api, no_sleep, target
from tests.test_spark_wallet import Spark
from tests.vercel_api import FakeVercel

ROOT = Path(__file__).resolve().parents[1]
WATCHER = "https://watcher.example"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _source(tmp_path_factory.mktemp("vercel-src"))


@pytest.fixture
def fake() -> Any:
    from tests.test_deploy_vercel import TOKEN

    with FakeVercel(token=TOKEN) as f:
        yield f


@pytest.fixture
def spark(monkeypatch: pytest.MonkeyPatch) -> FakeSpark:
    double = FakeSpark()
    monkeypatch.setattr(b, "connect", double.connect)
    return double


def vercel_entry() -> ModuleType:
    """functions/vercel/api/webhook.py, the deployed function, imported by path."""
    path = ROOT / "functions" / "vercel" / "api" / "webhook.py"
    spec = importlib.util.spec_from_file_location("nwc_test_vercel_webhook", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def deploy_and_wake(
    tmp_path: Path, source: Path, fake: FakeVercel, watcher_url: str
) -> tuple[setup.Target, list[str]]:
    from deploy.vercel import steps

    said: list[str] = []
    t = target(tmp_path, source, fake, backend="spark", network="regtest", mint_url="",
               watcher_url=watcher_url)  # fmt: skip
    done = steps.deploy(api(fake), t, say=said.append, sleep=no_sleep)
    assert done.created_wallet
    project = fake.projects["nwc-signer"]
    api_url, store_url = fake.blob_urls()
    env = {e.key: e.value for e in project.env}
    env |= {"VERCEL_BLOB_API_URL": api_url, "NWC_SIGNER_BLOB_STORE_URL": store_url}
    runtime = vercel_entry().Runtime.from_env(env)
    assert runtime.config.wallet_config == {}  # what a deployed function knows: no config
    deps = Deps(runtime.store, runtime.guard, runtime.secrets, runtime.config)
    woke = handle_delivery(wake_delivery(), deps, int(time.time()))
    assert woke.status == 200, woke.message
    return t, said


def test_a_spark_wallet_deployed_to_vercel_registers_its_hook_on_its_first_sync(
    tmp_path: Path, source: Path, fake: FakeVercel, spark: FakeSpark
) -> None:
    from functions.local.datadir import DataDir

    t, _ = deploy_and_wake(tmp_path, source, fake, WATCHER)
    folder = DataDir(t.data_dir)
    key = registration_secret(folder.secrets().root_secret, folder.config().wallet_id)
    (registered,) = spark.webhooks.values()
    assert registered.url == sparkhook.hook_url(WATCHER, key)
    wallet, token = registered.url.removeprefix(WATCHER + sparkhook.PATH_PREFIX).split("/")
    assert sparkhook.verify_token(wallet, token)  # what the watcher will check


def test_a_loopback_watcher_leaves_the_hook_unset_and_says_so(
    tmp_path: Path, source: Path, fake: FakeVercel, spark: FakeSpark
) -> None:
    _, said = deploy_and_wake(tmp_path, source, fake, "http://127.0.0.1:8080")
    assert spark.webhooks == {}  # Breez cannot reach a loopback watcher
    assert any(line.startswith("spark: no Breez webhook") and "https" in line for line in said)


def test_the_wallet_config_still_wins_over_the_state(spark: FakeSpark) -> None:
    configured = "https://config.example/v1/hooks/spark/" + "ab" * 32 + "/" + "cd" * 64
    wallet = Spark(spark, **{hook.CONFIG_KEY: configured})
    data = json.loads(wallet.state)
    data[hook.DATA_KEY] = "https://state.example/v1/hooks/spark/x/y"
    wallet.state = json.dumps(data)
    wallet.call("sync")
    (registered,) = spark.webhooks.values()
    assert registered.url == configured
