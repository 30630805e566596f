"""Assemble the Python Worker's deploy folder and measure it against Cloudflare's limits.

Layout (what ``wrangler deploy`` reads for a Python entry, checked against wrangler 4.164.0):

    OUT/src/worker.py            main module (functions/cloudflare/worker.py)
    OUT/src/signer_core/**.py    the core; a Python Worker imports its main's siblings
    OUT/python_modules/**        PyPI's Pyodide wheels, beside the config (wrangler's projectRoot)

Every ``.py`` under ``src/`` is a ``text/x-python`` module part named by its path under
``src/``; every file under ``python_modules/`` is an ``application/octet-stream`` part named
``python_modules/<path>`` (wrangler's "Data" rule; ``*.pyc`` excluded). ``modules()`` lists
exactly those parts, so our upload and wrangler's match by construction and by test.

The Spark subpackage ships (~45 kB raw): a Spark wallet fails on its own SDK import with the
backend's own error instead of an ImportError from the wallet registry.

Stdlib only: the "Deploy to Cloudflare" button runs ``python3 -m deploy.cloudflare.bundle``
in Cloudflare's build image, where nothing of ours is installed.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "functions" / "cloudflare" / "worker.py"
VENDORED = ROOT / ".venv-pyodide" / "python_modules"
REQUIREMENTS = ROOT / "functions" / "cloudflare" / "requirements-pyodide.txt"
MAIN_MODULE = "worker.py"
PY_TYPE = "text/x-python"
DATA_TYPE = "application/octet-stream"
# Workers' script size limit: 64 MiB uncompressed on every plan since 2026-09-04 (the
# compressed 3 MiB Free / 10 MiB Paid limits were removed: cloudflare-docs#33241,
# workers-sdk#14001). The gzip size is still reported, as wrangler does.
LIMIT_RAW = 64 * 1024 * 1024
_PRUNE_DIRS = {"__pycache__", "tests", "test", "bin"}
_PRUNE_SUFFIXES = (".pyc", ".pyi")
# the same target as scripts/bootstrap.sh (PyPI's Pyodide 314 wheels)
PIP_TARGET = ["--only-binary=:all:", "--no-deps", "--require-hashes", "--platform",
              "pyemscripten_2026_0_wasm32", "--python-version", "3.14", "--implementation", "cp",
              "--abi", "cp314", "--abi", "abi3", "--abi", "none"]  # fmt: skip


class BundleError(Exception):
    """The bundle cannot be built (no vendored wheels and pip failed) or is over the limit."""


@dataclass(frozen=True)
class Module:
    """One part of the upload: its name in the Worker, its content type, its file."""

    name: str
    content_type: str
    path: Path


@dataclass(frozen=True)
class Bundle:
    src: Path
    python_modules: Path
    modules: list[Module]
    raw_bytes: int
    gzip_bytes: int

    def report(self) -> str:
        mb = 1024 * 1024
        ours = sum(m.path.stat().st_size for m in self.modules if m.content_type == PY_TYPE)
        fits = "fits" if self.raw_bytes <= LIMIT_RAW else "over"
        return (
            f"worker bundle {self.src.parent}: {len(self.modules)} modules, "
            f"{self.raw_bytes / mb:.2f} MiB raw ({ours / mb:.2f} MiB our .py), "
            f"{self.gzip_bytes / mb:.2f} MiB gzip; {fits} the {LIMIT_RAW // mb} MiB "
            "(uncompressed) limit of every plan"
        )


def _pruned(path: Path, root: Path) -> bool:
    rel = path.relative_to(root)
    return any(p in _PRUNE_DIRS for p in rel.parts[:-1]) or path.name.endswith(_PRUNE_SUFFIXES)


def _copy_tree(src: Path, dst: Path, *, only_py: bool) -> None:
    for path in sorted(src.rglob("*")):
        if not path.is_file() or _pruned(path, src) or (only_py and path.suffix != ".py"):
            continue
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def _vendor(python_modules: Path) -> None:
    """The Pyodide wheels: the bootstrap's copy when there is one, else pip (the button's
    build image), hash-pinned by functions/cloudflare/requirements-pyodide.txt."""
    if VENDORED.is_dir():
        _copy_tree(VENDORED, python_modules, only_py=False)
        return
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-compile", "--target", str(python_modules), *PIP_TARGET, "-r", str(REQUIREMENTS)],
        capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        raise BundleError(f"pip could not vendor the Pyodide wheels:\n{tail}")
    for path in sorted(python_modules.rglob("*"), reverse=True):
        if path.is_file() and _pruned(path, python_modules):
            path.unlink()
        elif path.is_dir() and path.name in _PRUNE_DIRS:
            shutil.rmtree(path, ignore_errors=True)


def modules(src: Path, python_modules: Path) -> list[Module]:
    """The upload's parts in wrangler's order: the main module, the other ``.py`` files of
    the module root, then the vendored files."""
    found = [Module(MAIN_MODULE, PY_TYPE, src / MAIN_MODULE)]
    for path in sorted(src.rglob("*.py")):
        name = path.relative_to(src).as_posix()
        if name != MAIN_MODULE:
            found.append(Module(name, PY_TYPE, path))
    if python_modules.is_dir():
        for path in sorted(python_modules.rglob("*")):
            if path.is_file() and not path.name.endswith(".pyc"):
                name = "python_modules/" + path.relative_to(python_modules).as_posix()
                found.append(Module(name, DATA_TYPE, path))
    return found


def gzip_size(parts: list[Module]) -> int:
    """The parts gzip-compressed as one stream (a tar stream of the files is a close
    stand-in for the multipart body); reported for comparison with wrangler's figure."""
    buf = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for part in parts:
            tar.add(part.path, arcname=part.name, recursive=False)
    return len(buf.getvalue())


def code_hash(parts: list[Module]) -> str:
    """The hash of exactly what is uploaded: sha256 over a manifest with one line
    ``<sha256 of the part>  <part name>`` per module, in upload order. Reproducible from the
    repository (``nwc-signer deploy cloudflare --print-hash``); the onboarding page shows it."""
    manifest = "".join(
        f"{hashlib.sha256(p.path.read_bytes()).hexdigest()}  {p.name}\n" for p in parts
    )
    return "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()


def build(out_dir: Path, *, python_modules: Path | None = None) -> Bundle:
    """Rebuild ``out_dir/src`` (and ``python_modules``, default ``out_dir/python_modules``)."""
    out_dir = Path(out_dir)
    src = out_dir / "src"
    vendored = Path(python_modules) if python_modules is not None else out_dir / "python_modules"
    for folder in (src, vendored):
        if folder.exists():
            shutil.rmtree(folder)
    src.mkdir(parents=True)
    shutil.copyfile(WORKER, src / MAIN_MODULE)
    _copy_tree(ROOT / "signer_core", src / "signer_core", only_py=True)
    vendored.mkdir(parents=True)
    _vendor(vendored)
    parts = modules(src, vendored)
    raw = sum(p.path.stat().st_size for p in parts)
    packed = gzip_size(parts)
    if raw > LIMIT_RAW:
        raise BundleError(f"the bundle is {raw / 2**20:.1f} MiB, over the 64 MiB limit")
    return Bundle(src, vendored, parts, raw, packed)


def wrangler_config(
    *,
    name: str,
    compatibility_date: str,
    bucket: str,
    database_name: str,
    database_id: str,
    watcher_pubkey: str,
    main: str = "src/worker.py",
) -> dict[str, object]:
    """The wrangler.jsonc equivalent of what ``upload.metadata`` sends (used to run the real
    wrangler on the same folder, and documented in docs/cloudflare-deploy.md)."""
    return {
        "name": name,
        "main": main,
        "compatibility_date": compatibility_date,
        "compatibility_flags": ["python_workers"],
        "r2_buckets": [{"binding": "STATE", "bucket_name": bucket}],
        "d1_databases": [
            {"binding": "GUARD", "database_name": database_name, "database_id": database_id}
        ],
        "vars": {"WATCHER_PUBKEY": watcher_pubkey},
    }


def write_wrangler_config(out_dir: Path, config: dict[str, object]) -> Path:
    path = Path(out_dir) / "wrangler.jsonc"
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.cloudflare.bundle",
        description="assemble the Python Worker's deploy folder and report its size",
    )
    parser.add_argument("--out", default="build/cloudflare",
                        help="the folder to build in (default: %(default)s)")  # fmt: skip
    parser.add_argument(
        "--python-modules", metavar="DIR",
        help="where the vendored wheels go: wrangler reads python_modules/ beside its config "
        "(default: OUT/python_modules; the button's root wrangler.jsonc uses ./python_modules)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        vendored = Path(args.python_modules) if args.python_modules else None
        built = build(Path(args.out), python_modules=vendored)
    except BundleError as exc:
        print(f"bundle: {exc}", file=sys.stderr)
        return 2
    print(built.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
