#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment at .venv from the lock file.
# Idempotent and quiet when nothing changed; used by scripts/run and scripts/test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating virtual environment at .venv" >&2
  "$py" -m venv .venv
fi
stamp=.venv/.lock-stamp
want="$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-64)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing locked dependencies into .venv" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==0.13.8"
  # precompiled bytecode: the cold path must not compile modules (as a Lambda bundle ships .pyc)
  .venv/bin/uv pip sync --quiet --compile-bytecode --python .venv/bin/python requirements.lock
  # a plain path .pth (compat mode): the default import-hook finder costs ~12 ms per start
  .venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps \
    --config-settings editable_mode=compat -e .
  echo "$want" > "$stamp"
fi
