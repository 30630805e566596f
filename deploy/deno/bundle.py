"""Assemble the Deno Deploy app folder and turn it into a revision's ``assets``.

Layout (the contract with functions/deno/, which owns the runtime):

    OUT/main.ts, OUT/deno.json, OUT/entry.py   from functions/deno/ (the entrypoint is main.ts)
    OUT/package.json                           written: the runtime's npm dependencies only
                                               (pyodide, pinned as in functions/deno/), not
                                               the local `deno` binary package, which
                                               ``deno install`` on Deploy would fetch for nothing
    OUT/signer_core/**.py                      the core (no tests, no __pycache__)
    OUT/python_modules/**                      the vendored Pyodide wheels (.venv-pyodide)

Every file becomes one asset keyed by its path under OUT (Deploy puts it under /app/src):
``{"kind": "file", "encoding": "utf-8", "content": text}`` for text, base64 for the rest
(the v2 deploy request of docs.deno.com's API migration guide). The whole deployment must
stay under 1 GB (docs: deploy/pricing_and_limits.md); ``Bundle.report`` says where it is.

Stdlib only (plus the vendoring of deploy.cloudflare.bundle): usable in a bare build image.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.cloudflare.bundle import VENDORED, BundleError, _copy_tree, _vendor

ROOT = Path(__file__).resolve().parents[2]
ENTRY_DIR = ROOT / "functions" / "deno"
ENTRY_FILES = ("main.ts", "deno.json", "entry.py")
RUNTIME_NPM = ("pyodide",)  # what main.ts imports; functions/deno's `deno` is the local binary
ENTRYPOINT = "main.ts"
LIMIT_BYTES = 1024**3
_TEXT_SUFFIXES = {
    ".py",
    ".ts",
    ".js",
    ".mjs",
    ".json",
    ".jsonc",
    ".lock",
    ".txt",
    ".md",
    ".toml",
    ".cfg",
    ".typed",
    ".pth",
    ".csv",
    ".html",
    ".css",
}

__all__ = [
    "ENTRYPOINT",
    "ENTRY_DIR",
    "ENTRY_FILES",
    "VENDORED",
    "Bundle",
    "BundleError",
    "assets",
    "build",
    "code_hash",
]


@dataclass(frozen=True)
class Bundle:
    root: Path
    files: list[str]  # posix paths under root, sorted
    raw_bytes: int
    ours_bytes: int  # everything but python_modules/
    request_bytes: int  # the JSON of the assets as sent

    def report(self) -> str:
        mb = 1024 * 1024
        return (
            f"deno bundle {self.root}: {len(self.files)} files, {self.raw_bytes / mb:.2f} MB "
            f"raw ({self.ours_bytes / mb:.2f} MB ours, the rest Pyodide wheels), "
            f"{self.request_bytes / mb:.2f} MB as a deploy request; limit 1 GB per "
            "deployment: fits"
        )


def entry_dir() -> Path:
    """functions/deno/ when it holds the entry files."""
    missing = [n for n in ENTRY_FILES if not (ENTRY_DIR / n).is_file()]
    if missing:
        raise BundleError(
            f"functions/deno/ lacks {', '.join(missing)}: the Deno runtime "
            "is not in this checkout yet"
        )
    return ENTRY_DIR


def asset(path: Path) -> dict[str, str]:
    """One file as a v2 ``FileAsset``: utf-8 text when it is text, else base64."""
    data = path.read_bytes()
    if path.suffix in _TEXT_SUFFIXES:
        try:
            return {"kind": "file", "encoding": "utf-8", "content": data.decode("utf-8")}
        except UnicodeDecodeError:
            pass
    return {"kind": "file", "encoding": "base64", "content": base64.b64encode(data).decode()}


def assets(root: Path, files: list[str]) -> dict[str, dict[str, str]]:
    return {name: asset(root / name) for name in files}


def _request_size(root: Path, files: list[str]) -> int:
    size = 2
    for name in files:
        size += len(json.dumps(name)) + len(json.dumps(asset(root / name))) + 2
    return size


def _write_package_json(src: Path, out_dir: Path) -> None:
    """The app's package.json: the runtime's npm dependencies at the versions src pins."""
    pinned: dict[str, str] = {}
    if (src / "package.json").is_file():
        pinned = json.loads((src / "package.json").read_text()).get("dependencies", {})
    deps = {name: pinned[name] for name in RUNTIME_NPM if name in pinned}
    doc = {"name": "nwc-signer-deno-app", "private": True, "type": "module", "dependencies": deps}
    (out_dir / "package.json").write_text(json.dumps(doc, indent=2) + "\n")


def build(
    out_dir: Path, *, source: Path | None = None, python_modules: Path | None = None
) -> Bundle:
    """Rebuild ``out_dir`` from ``source`` (default: functions/deno/) and the vendored wheels
    (default: the bootstrap's .venv-pyodide/python_modules, else pip)."""
    src = Path(source) if source is not None else entry_dir()
    missing = [n for n in ENTRY_FILES if not (src / n).is_file()]
    if missing:
        raise BundleError(f"{src} lacks {', '.join(missing)}")
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for name in ENTRY_FILES:
        shutil.copyfile(src / name, out_dir / name)
    _write_package_json(src, out_dir)
    _copy_tree(ROOT / "signer_core", out_dir / "signer_core", only_py=True)
    vendored = out_dir / "python_modules"
    vendored.mkdir()
    wheels = Path(python_modules) if python_modules is not None else VENDORED
    if wheels.is_dir():
        _copy_tree(wheels, vendored, only_py=False)
    else:
        _vendor(vendored)
    files = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())
    raw = sum((out_dir / n).stat().st_size for n in files)
    ours = sum((out_dir / n).stat().st_size for n in files if not n.startswith("python_modules/"))
    if raw > LIMIT_BYTES:
        raise BundleError(f"the bundle is {raw / 2**30:.2f} GB, over Deno Deploy's 1 GB limit")
    return Bundle(out_dir, files, raw, ours, _request_size(out_dir, files))


def code_hash(built: Bundle) -> str:
    """The hash of exactly what is uploaded: sha256 over a manifest with one line
    ``<sha256 of the file>  <path>`` per asset, sorted by path (the revision's assets).
    Reproducible with ``nwc-signer deploy deno --print-hash``; the onboarding page shows it."""
    manifest = "".join(
        f"{hashlib.sha256((built.root / name).read_bytes()).hexdigest()}  {name}\n"
        for name in built.files
    )
    return "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.deno.bundle",
        description="assemble the Deno Deploy app folder and report its size",
    )
    parser.add_argument("--out", default="build/deno", help="folder (default: %(default)s)")
    args: Any = parser.parse_args(argv)
    try:
        print(build(Path(args.out)).report())
    except BundleError as exc:
        print(f"bundle: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
