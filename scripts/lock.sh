#!/usr/bin/env bash
# Re-resolve requirements.lock from pyproject.toml (run after changing dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
uv="${UV:-.venv/bin/uv}"
"$uv" pip compile pyproject.toml --all-extras --python-version 3.11 --generate-hashes \
  --quiet -o requirements.lock
