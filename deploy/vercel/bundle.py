"""Assemble the files of the Vercel project, their SHA1s for the upload, and one hash of them.

Layout (the contract with functions/vercel/, which owns the runtime; docs/vercel.md):

    OUT/api/webhook.py       the function (functions/vercel/api/webhook.py)
    OUT/requirements.txt     the runtime's pins (functions/vercel/requirements.txt)
    OUT/vercel.json          function config (functions/vercel/vercel.json)
    OUT/.python-version      the Python line (functions/vercel/.python-version)
    OUT/signer_core/**.py    the core as it is (no __pycache__)

Vercel installs ``requirements.txt`` while it builds: the upload is source only, and the
function's size limit (500 MB unzipped for Python; docs: functions/limitations) applies to
what the build makes. ``Bundle.report`` estimates that from the pinned distributions as they
are installed here (their Linux x86_64 wheels on Vercel differ a little).

``Bundle.digest`` is the hash the onboarding page shows: SHA-256 over one line per file,
``<sha1> <size> <path>\\n`` in path order, of exactly the files uploaded. ``python -m
deploy.vercel.bundle --print-hash`` reproduces it from a checkout.

Stdlib only: usable in a bare build image.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata as metadata
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ENTRY_DIR = ROOT / "functions" / "vercel"
ENTRY_FILES = ("api/webhook.py", "requirements.txt", "vercel.json", ".python-version")
ENTRYPOINT = "api/webhook.py"
WEBHOOK_PATH = "/api/webhook"
LIMIT_BYTES = 500 * 1000**2  # Vercel: 500 MB unzipped for a Python function
CORE = "signer_core"

__all__ = ["ENTRY_DIR", "ENTRY_FILES", "Bundle", "BundleError", "build", "button_url", "digest"]


class BundleError(Exception):
    """The project's files cannot be assembled: one line for the user."""


@dataclass(frozen=True)
class File:
    path: str  # posix, relative to the project root
    sha: str  # SHA1 hex, what POST /v2/files is addressed by
    size: int


@dataclass(frozen=True)
class Bundle:
    root: Path
    files: list[File]  # sorted by path
    installed_bytes: int | None  # the pinned distributions as installed here, if they are

    @property
    def raw_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def digest(self) -> str:
        return digest(self.files)

    def report(self) -> str:
        mb = 1000**2
        text = f"vercel bundle {self.root}: {len(self.files)} files, {self.raw_bytes / mb:.2f} MB"
        if self.installed_bytes is None:
            return (
                text + "; the pinned packages are not installed here, so the function's "
                "installed size is not estimated (Vercel's limit: 500 MB)"
            )
        total = self.raw_bytes + self.installed_bytes
        verdict = "fits" if total <= LIMIT_BYTES else "OVER the limit"
        return (
            f"{text}; with the pinned packages as installed here "
            f"{total / mb:.1f} MB unzipped against Vercel's 500 MB for a Python "
            f"function: {verdict}"
        )


def digest(files: list[File]) -> str:
    """``sha256:<hex>`` over ``<sha1> <size> <path>\\n`` per file, in path order."""
    lines = "".join(f"{f.sha} {f.size} {f.path}\n" for f in sorted(files, key=lambda f: f.path))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


def entry_dir() -> Path:
    """functions/vercel/ when it holds the entry files."""
    missing = [n for n in ENTRY_FILES if not (ENTRY_DIR / n).is_file()]
    if missing:
        raise BundleError(
            f"functions/vercel/ lacks {', '.join(missing)}: the Vercel runtime "
            "is not in this checkout yet"
        )
    return ENTRY_DIR


def _requirement_names(text: str) -> list[str]:
    names = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        if m:
            names.append(m.group(0))
    return names


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_size(requirements: str) -> int | None:
    """Bytes on disk of the required distributions and what they require, as installed in
    this interpreter; None when one of the named ones is missing."""
    seen: set[str] = set()
    todo = [_canonical(n) for n in _requirement_names(requirements)]
    total = 0
    first = set(todo)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if name in first:
                return None
            continue  # an optional/platform dependency not installed here
        for f in dist.files or []:
            with contextlib.suppress(OSError):
                total += Path(str(dist.locate_file(f))).stat().st_size
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", req)
            if m:
                todo.append(_canonical(m.group(0)))
    return total


def _core_files(core: Path) -> list[Path]:
    return sorted(p for p in core.rglob("*.py") if "__pycache__" not in p.relative_to(core).parts)


def build(out_dir: Path, *, source: Path | None = None, core: Path | None = None) -> Bundle:
    """Rebuild ``out_dir`` from ``source`` (default: functions/vercel/) and the core."""
    src = Path(source) if source is not None else entry_dir()
    missing = [n for n in ENTRY_FILES if not (src / n).is_file()]
    if missing:
        raise BundleError(f"{src} lacks {', '.join(missing)}")
    core_dir = Path(core) if core is not None else ROOT / CORE
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for name in ENTRY_FILES:
        (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / name, out_dir / name)
    for path in _core_files(core_dir):
        target = out_dir / CORE / path.relative_to(core_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    files = []
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        files.append(
            File(
                path.relative_to(out_dir).as_posix(),
                hashlib.sha1(data).hexdigest(),  # noqa: S324 (Vercel addresses files by SHA1)
                len(data),
            )
        )
    files.sort(key=lambda f: f.path)
    installed = installed_size((out_dir / "requirements.txt").read_text())
    built = Bundle(out_dir, files, installed)
    if built.raw_bytes + (installed or 0) > LIMIT_BYTES:
        raise BundleError(built.report())
    return built


# --- the "Deploy with Vercel" button (the clone flow) -----------------------------------
#
# The clone flow copies the whole repository into the user's Git account and builds the
# project from BUTTON_ROOT (the URL's `root-directory`), so nothing of Vercel's sits at the
# repository root (a root .python-version would move this repository's own tooling to 3.12).
# There the builder finds api/webhook.py, .python-version (3.12), vercel.json and
# pyproject.toml, whose path dependency on the repository root installs signer_core into the
# function (functions/vercel/pyproject.toml says how). The button asks only for
# WATCHER_PUBKEY: a secret never travels in a URL, and the wallet (ROOT_SECRET, WALLET_ID),
# its private Blob store (BLOB_READ_WRITE_TOKEN) and its first state are made afterwards by
# `nwc-signer deploy vercel --project <the project>`. Until then the function answers 503
# "not configured" naming what is missing.

BUTTON_ROOT = "functions/vercel"
BUTTON_MANIFEST = "pyproject.toml"
BUTTON_FILES = (ENTRYPOINT, ".python-version", "vercel.json", BUTTON_MANIFEST)
BUTTON_ENV = ("WATCHER_PUBKEY",)
SET_BY_DEPLOY = ("ROOT_SECRET", "WALLET_ID", "BLOB_READ_WRITE_TOKEN")  # deploy vercel --project
BUTTON_ENV_DESCRIPTION = (
    "The x-only public key (64 hex) of the relay-watcher that will wake your wallet. Then "
    "run `nwc-signer deploy vercel --project <this project>` on your machine: it creates the "
    "wallet, its private Blob store and its secrets."
)
BUTTON_ENV_LINK = "https://github.com/{repo}/blob/main/docs/vercel-deploy.md"


def button_url(repository: str, project: str = "nwc-signer") -> str:
    """The Deploy Button's clone URL: repository-url, project-name, repository-name, env,
    envDescription, envLink (vercel.com/docs/deploy-button/source and
    .../environment-variables) and root-directory (the project's Root Directory, the
    parameter Vercel's own monorepo examples use: vercel/examples#231, vercel/turborepo#719)."""
    from urllib.parse import urlencode, urlsplit

    repo = urlsplit(repository).path.strip("/")
    query = {"repository-url": repository, "root-directory": BUTTON_ROOT,
             "project-name": project, "repository-name": project,
             "env": ",".join(BUTTON_ENV), "envDescription": BUTTON_ENV_DESCRIPTION,
             "envLink": BUTTON_ENV_LINK.format(repo=repo)}  # fmt: skip
    return "https://vercel.com/new/clone?" + urlencode(query)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.vercel.bundle",
        description="assemble the Vercel project's files and report their size and hash",
    )
    parser.add_argument("--out", default="build/vercel", help="folder (default: %(default)s)")
    parser.add_argument(
        "--print-hash",
        action="store_true",
        help="print only the hash of the files `deploy vercel` uploads",
    )
    args: Any = parser.parse_args(argv)
    try:
        built = build(Path(args.out))
    except BundleError as exc:
        print(f"bundle: {exc}", file=sys.stderr)
        return 2
    print(built.digest if args.print_hash else built.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
