"""The process that gets killed: runs one operation on a wallet folder and SIGKILLs itself
at persistence point `--kill-at` (before/after each state write and generation-guard
advance, counted in order: point 2i is just before call i, 2i+1 just after it landed).
Exit 0 means the operation finished before reaching that point.

    python -m scripts.reliability.crash_child DIR KILL_AT deliver|wake|revoke [ARG]
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any


def arm(kill_at: int) -> None:
    """Wrap the real local store's write and guard's advance with the kill switch."""
    from signer_core.stores import local

    calls = {"n": 0}

    def wrap(original: Any) -> Any:
        def persisted(self: Any, *args: Any, **kwargs: Any) -> Any:
            index = calls["n"]
            calls["n"] += 1
            if kill_at == 2 * index:
                os.kill(os.getpid(), signal.SIGKILL)
            result = original(self, *args, **kwargs)
            if kill_at == 2 * index + 1:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        return persisted

    local.LocalFolderStore.write = wrap(local.LocalFolderStore.write)  # type: ignore[method-assign]
    local.LocalGenerationGuard.advance = wrap(local.LocalGenerationGuard.advance)  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    import logging

    logging.basicConfig(level=logging.CRITICAL)
    data_dir, kill_at, op = Path(argv[0]), int(argv[1]), argv[2]
    arm(kill_at)
    from scripts.reliability.common import LocalWallet, run_cli

    watcher = bytes.fromhex((data_dir / "secrets" / "watcher.key").read_text().strip())
    wallet = LocalWallet(data_dir, watcher)
    if op == "deliver":
        event = json.loads(Path(argv[3]).read_text())
        print(wallet.deliver(event).status)
    elif op == "wake":
        print(wallet.wake().status)
    elif op == "revoke":
        code, _, err = run_cli("connection", "revoke", "--data-dir", str(data_dir), argv[3])
        print(code, err.strip())
    else:
        raise SystemExit(f"unknown op {op}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
