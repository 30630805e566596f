"""A seeded slice of scripts/fuzz_watcher.py in CI: 800 hostile calls against a real watcher
served by uvicorn (registrations signed and mutated, nested JSON, digit-like headers, random
bytes, methods and paths, raw malformed HTTP). No 5xx, no traceback in a body, no unhandled
exception in the server's log. The full run and its figure are in docs/reliability.md."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fuzz_watcher.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_watcher", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_watcher"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def test_seeded_fuzz_slice_of_the_watcher_api() -> None:
    report = _load().run(calls=800, seed=7)
    assert report.server_errors == []
    assert report.tracebacks == []
    assert report.logged_exceptions == []
    # the slice reached behind the signature check, not only the front door
    assert {200, 400, 401, 413} <= set(report.statuses), report.summary()
    assert report.calls == 800
