"""The local data folder: config, secrets (0600) and the sealed state.

DIR/config.json           wallet id, backend, watcher pubkey, relays (no secrets)
DIR/secrets/root.key      the root secret (hex), 0600 -- never in the object store
DIR/secrets/watcher.key   a local watcher's signing key, when this folder made one
DIR/secrets/generation    rollback high-water mark (outside the object store)
DIR/state/                the sealed wallet blob (stands in for S3/R2)
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from signer_core.session import Secrets
from signer_core.stores.local import LocalFolderStore, LocalGenerationGuard

CONFIG_FILE = "config.json"


class DataDirError(Exception):
    """The folder is missing, incomplete or not a wallet folder."""


@dataclass
class LocalConfig:
    wallet_id: str
    backend: str
    watcher_pubkey: str
    relays: list[str]
    wallet_config: dict[str, Any] = field(default_factory=dict)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


class DataDir:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return (self.path / CONFIG_FILE).is_file()

    def init(self, config: LocalConfig, root_secret: bytes, watcher_secret: bytes | None) -> None:
        if self.exists():
            raise DataDirError(f"{self.path} already holds a wallet")
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_private(self.path / "secrets" / "root.key", root_secret.hex() + "\n")
        if watcher_secret is not None:
            _write_private(self.path / "secrets" / "watcher.key", watcher_secret.hex() + "\n")
        _write_private(self.path / CONFIG_FILE, json.dumps(asdict(config), indent=2) + "\n")

    def config(self) -> LocalConfig:
        try:
            raw = json.loads((self.path / CONFIG_FILE).read_text())
            return LocalConfig(**raw)
        except FileNotFoundError:
            raise DataDirError(
                f"{self.path} holds no wallet; create one with `nwc-signer wallet create`"
            ) from None
        except (ValueError, TypeError) as exc:
            raise DataDirError(f"{self.path / CONFIG_FILE} is not a valid config: {exc}") from None

    def save_config(self, config: LocalConfig) -> None:
        tmp = self.path / (CONFIG_FILE + ".tmp")
        tmp.unlink(missing_ok=True)
        _write_private(tmp, json.dumps(asdict(config), indent=2) + "\n")
        os.replace(tmp, self.path / CONFIG_FILE)

    def _secret(self, name: str) -> bytes:
        path = self.path / "secrets" / name
        try:
            return bytes.fromhex(path.read_text().strip())
        except FileNotFoundError:
            raise DataDirError(f"missing secret file {path}") from None
        except ValueError:
            raise DataDirError(f"secret file {path} is not hex") from None

    def secrets(self) -> Secrets:
        return Secrets(root_secret=self._secret("root.key"))

    def watcher_secret(self) -> bytes:
        return self._secret("watcher.key")

    def store(self) -> LocalFolderStore:
        return LocalFolderStore(self.path / "state")

    def guard(self) -> LocalGenerationGuard:
        return LocalGenerationGuard(self.path / "secrets" / "generation")
