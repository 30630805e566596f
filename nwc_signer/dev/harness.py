"""The test harness: a wallet driven like the watcher drives it (driver.py) and the
command line run in this process. Tests, benchmarks and scripts import from here.

Nothing in nwc_signer imports this module, so it may import the CLI (which imports the
dev stack, which imports driver.py) without a cycle.
"""

from __future__ import annotations

import contextlib
import io

from nwc_signer.dev.driver import LocalWallet, WebhookDriver

__all__ = ["LocalWallet", "WebhookDriver", "run_cli"]


def run_cli(*argv: str) -> tuple[int, str, str]:
    """Run `nwc-signer ARGV` in this process; (exit code, stdout, stderr)."""
    from nwc_signer.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()
