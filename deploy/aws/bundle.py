"""Build the Lambda bundle for python3.13 on arm64 from PyPI wheels, offline of AWS.

pip is told the target exactly (`--platform` for EVERY manylinux tag up to the current
one, `--only-binary=:all:`, `--python-version 3.13`, `--implementation cp`): given only one
old tag, pip silently picks old wheels or none. The bundle ships its own boto3 (S3
IfMatch/IfNoneMatch needs botocore >= 1.35.69, newer than some runtime copies).
"""

from __future__ import annotations

import compileall
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT_UNZIPPED = 250 * 1024 * 1024  # Lambda's limit for a function's unzipped code
PYTHON_VERSION = "3.13"
# manylinux2014 (= glibc 2.17) up to the runtime's glibc (Amazon Linux 2023: 2.34).
PLATFORMS = ["manylinux2014_aarch64"] + [f"manylinux_2_{m}_aarch64" for m in range(17, 35)]
PACKAGES = ["signer_core", "functions"]
# what the function imports (no CLI, no watcher, no test tooling)
REQUIREMENTS = [
    "pydantic>=2.7,<3",
    "httpx>=0.27,<0.29",
    "coincurve>=21,<22",
    "pycryptodome>=3.20",
    "mnemonic>=0.21",
    "breez-sdk-spark==0.27.2",
    "boto3>=1.35.69",
    "aws-lambda-powertools>=3.0",
]
_PRUNE_DIRS = {"__pycache__", "tests", "test"}


class BundleError(Exception):
    """The bundle cannot be built (a wheel is missing for the target) or is too large."""


@dataclass
class Bundle:
    directory: Path
    zip_path: Path
    unzipped_bytes: int
    zipped_bytes: int

    def report(self) -> str:
        mb = 1024 * 1024
        return (
            f"bundle {self.zip_path}: {self.unzipped_bytes / mb:.1f} MB unzipped "
            f"(limit {LIMIT_UNZIPPED / mb:.0f} MB), {self.zipped_bytes / mb:.1f} MB zipped"
        )


def lock_constraints(out_dir: Path) -> Path:
    """requirements.lock's pins without its hashes (those are per wheel and the lock was
    made on x86_64): the bundle gets the versions the tests ran with."""
    pins = [
        line.split(" ")[0]
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    ]
    path = out_dir / "constraints.txt"
    path.write_text("\n".join(pins) + "\n")
    return path


def pip_args(target: Path, requirements: list[str], constraints: Path | None = None) -> list[str]:
    args = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target)]
    if constraints is not None:
        args += ["-c", str(constraints)]
    for platform in PLATFORMS:
        args += ["--platform", platform]
    args += [
        "--only-binary=:all:",
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        "cp",
        "--upgrade",
        *requirements,
    ]
    return args


def _size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def build(out_dir: Path, *, requirements: list[str] | None = None) -> Bundle:
    """pip-install the wheels for the target, copy our packages, precompile, zip."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "function"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    proc = subprocess.run(
        pip_args(target, requirements or REQUIREMENTS, lock_constraints(out_dir)),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        raise BundleError(
            f"no python{PYTHON_VERSION} aarch64 wheel for a dependency (pip said):\n{tail}"
        )
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    for path in list(target.rglob("*")):
        if path.is_dir() and path.name in _PRUNE_DIRS and path.parent.name in PACKAGES:
            shutil.rmtree(path, ignore_errors=True)
    # Precompiled bytecode: the runtime cannot write next to the code (read-only), so
    # without it every cold start recompiles. Compiled here with our interpreter's magic
    # number only when it is the target's version; otherwise AWS compiles per cold start.
    if sys.version_info[:2] == tuple(int(x) for x in PYTHON_VERSION.split(".")):
        compileall.compile_dir(str(target), quiet=1, workers=os.cpu_count() or 1)
    unzipped = _size(target)
    if unzipped > LIMIT_UNZIPPED:
        raise BundleError(
            f"the bundle is {unzipped / 2**20:.1f} MB unzipped, over Lambda's 250 MB limit"
        )
    zip_path = out_dir / "function-arm64.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in sorted(target.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(target).as_posix())
    return Bundle(target, zip_path, unzipped, zip_path.stat().st_size)
