"""One SDK build per operation: restore the storage folder, connect, call, disconnect, save.

Server mode (``default_server_config``): no background task outlives the call, so nothing
runs while the function sleeps and nothing is lost when it is frozen. Every SDK call runs
under a hard time limit (``asyncio.wait_for``), so an unreachable operator costs at most
the limit, never a hang. ``breez_sdk_spark`` is imported on the first call only.

Where the SDK cannot be imported at all (Cloudflare Python Workers: Pyodide loads no native
wheel), every SDK call raises ``SparkUnavailable``, a NIP-47 error that says so, instead of
an ImportError deep in a request; docs/cloudflare-spark.md has the design for Spark there.

Never log a ``Config`` or a ``ConnectRequest``: their reprs carry the API key and the seed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import WalletEnv
from signer_core.wallets.spark import storage

log = logging.getLogger(__name__)

T = TypeVar("T")
ConnectFn = Callable[[Any], Awaitable[Any]]

API_KEY_ENV = "BREEZ_API_KEY"
DISCONNECT_TIMEOUT_S = 5.0
SDK_MODULE = "breez_sdk_spark"
DESIGN_DOC = "docs/cloudflare-spark.md"


class SparkTimeout(Exception):
    """An SDK call did not finish within its limit (operators or Breez unreachable?)."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"Spark did not answer within {seconds:g} s while trying to {what}")
        self.what = what
        self.seconds = seconds


class SparkUnavailable(NwcError):
    """The Breez SDK cannot be loaded on this runtime (Pyodide has no native wheels).

    A NwcError, so any path answers the client with it; the wallet turns it into
    "pending" where an unknown outcome must keep its claim (reconcile, send).
    """

    def __init__(self) -> None:
        if sys.platform == "emscripten":
            why = (
                "this runtime (Cloudflare Python Workers / Pyodide): the Breez SDK is native "
                "code, which Pyodide cannot load. Serve this wallet from CPython "
                "(local, AWS Lambda)"
            )
        else:
            why = (
                f"this runtime: the Breez SDK ({SDK_MODULE}, native code) cannot be imported "
                "here, as on Cloudflare Python Workers / Pyodide. Serve this wallet from CPython "
                "with breez-sdk-spark installed"
            )
        design = f"see {DESIGN_DOC} for Spark on Cloudflare"
        super().__init__(ErrorCode.INTERNAL, f"Spark cannot run on {why}; {design}")


def sdk_importable() -> bool:
    """Cheap (no import): False where the SDK is absent, e.g. on Pyodide."""
    try:
        return importlib.util.find_spec(SDK_MODULE) is not None
    except (ImportError, ValueError):
        return False


def load_sdk() -> ModuleType:
    """The real SDK module (imported here, never at module import: ~360 ms cold)."""
    try:
        import breez_sdk_spark
    except (ImportError, OSError) as exc:  # absent, or its native library does not load
        log.info("spark: the Breez SDK cannot be imported here (%s)", type(exc).__name__)
        raise SparkUnavailable() from None

    module: ModuleType = breez_sdk_spark
    return module


def api_key(env: WalletEnv) -> str | None:
    """The Breez API key: deployment config, else $BREEZ_API_KEY, else a 0600 key file."""
    key = env.config.get("breez_api_key") or os.environ.get(API_KEY_ENV)
    path = env.config.get("breez_api_key_file")
    if not key and path:
        try:
            key = Path(path).read_text().strip()
        except FileNotFoundError:
            key = None
        except OSError as exc:
            raise NwcError(
                ErrorCode.INTERNAL, f"the Breez API key file cannot be read ({exc.strerror})"
            ) from None
    return str(key) if key else None


def build_config(sdk: ModuleType, network: str, env: WalletEnv) -> Any:
    """Server-mode config for ``network``; mainnet without an API key fails before any I/O."""
    net = sdk.Network.MAINNET if network == "mainnet" else sdk.Network.REGTEST
    config = sdk.default_server_config(net)
    key = api_key(env)
    if key:
        config.api_key = key
    elif network == "mainnet":
        raise NwcError(
            ErrorCode.INTERNAL,
            "the Spark wallet needs a Breez API key on mainnet: set the deployment secret "
            f"breez_api_key (locally ${API_KEY_ENV} or secrets/breez_api_key)",
        )
    domain = env.config.get("spark_lnurl_domain")
    if domain:
        config.lnurl_domain = str(domain)
    return config


class SparkSession:
    """The SDK of one wallet for one request: storage restored once, one build per call."""

    def __init__(self, data: dict[str, Any], env: WalletEnv, connect: ConnectFn | None = None):
        self.data = data
        self.env = env
        self._connect = connect
        self._sdk: ModuleType | None = None
        self._dir: Path | None = None
        self._digest = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    @property
    def sdk(self) -> ModuleType:
        if self._sdk is None:
            self._sdk = load_sdk()
        return self._sdk

    def folder(self) -> Path:
        """The storage folder, restored from the state on first use."""
        if self._dir is None:
            path = Path(tempfile.mkdtemp(prefix="nwc-spark-"))
            self._finalizer = weakref.finalize(self, shutil.rmtree, path, True)
            try:
                storage.unpack(self.data.get("storage"), path)
            except storage.StorageCorrupt as exc:
                msg = f"the Spark wallet state is damaged: {exc}"
                raise NwcError(ErrorCode.INTERNAL, msg) from None
            self._dir = path
            self._digest = (self.data.get("storage") or {}).get("sha256", "")
        return self._dir

    def run(
        self,
        what: str,
        op: Callable[[Any], Awaitable[T]],
        *,
        timeout: float | None = None,
    ) -> T:
        """Build the SDK, run ``op(sdk)`` under a time limit, disconnect, save the folder.

        SDK exceptions and ``SparkTimeout`` propagate: only the caller knows whether a
        failure means "nothing happened" or "outcome unknown".
        """
        folder = self.folder()
        loop = self._loop or asyncio.new_event_loop()
        self._loop = loop
        limit = self.env.http_timeout
        try:
            client = loop.run_until_complete(
                _bounded(self._build(folder), "connect to Spark", limit)
            )
            try:
                return loop.run_until_complete(_bounded(op(client), what, timeout or limit))
            finally:
                try:
                    loop.run_until_complete(
                        _bounded(client.disconnect(), "disconnect", DISCONNECT_TIMEOUT_S)
                    )
                except Exception as exc:  # the work is done; a slow disconnect must not undo it
                    log.warning("Spark disconnect failed: %s", type(exc).__name__)
        finally:
            self.save()

    async def _build(self, folder: Path) -> Any:
        sdk = self.sdk
        request = sdk.ConnectRequest(
            config=build_config(sdk, self.data.get("network", "regtest"), self.env),
            seed=sdk.Seed.MNEMONIC(self.env.mnemonic, None),
            storage_dir=str(folder),
        )
        connect = self._connect or sdk.connect
        return await connect(request)

    def save(self) -> bool:
        """Pack the folder back into ``data`` if it changed; True when it did."""
        if self._dir is None:
            return False
        if storage.digest(self._dir) == self._digest:
            return False
        record = storage.pack(self._dir)
        self.data["storage"] = record
        self._digest = record["sha256"]
        return True

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None
        if self._finalizer is not None:
            self._finalizer()
        self._dir = None


async def _bounded(aw: Awaitable[T], what: str, seconds: float) -> T:
    try:
        return await asyncio.wait_for(aw, seconds)
    except TimeoutError:
        raise SparkTimeout(what, seconds) from None
