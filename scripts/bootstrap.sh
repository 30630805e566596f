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

# --- the Pyodide host (functions/cloudflare): Node 22 + npm pyodide, and Pyodide wheels
# vendored into .venv-pyodide/python_modules (outside functions/, where mypy would read them).
# Stamp-guarded like the venv above: nothing runs while package-lock.json and
# requirements-pyodide.txt are unchanged and both folders exist. A failure does not fail the
# bootstrap (nothing but tests/test_pyodide_smoke.py needs it); it writes its reason to
# functions/cloudflare/.bootstrap-failed, and that test skips, quoting it.
cf=functions/cloudflare
cf_stamp="$cf/node_modules/.nwc-bootstrap-stamp"
cf_failed="$cf/.bootstrap-failed"
cf_site=.venv-pyodide/python_modules
cf_want="$(sha256sum "$cf/package-lock.json" "$cf/requirements-pyodide.txt" | sha256sum | cut -c1-64)"
pyodide_host_install() {
  command -v npm >/dev/null 2>&1 || { echo "npm is not installed (apt-get install npm)"; return 1; }
  (cd "$cf" && npm ci --no-audit --no-fund --loglevel=error) >&2 || { echo "npm ci failed in $cf"; return 1; }
  local tmp="$cf_site.tmp"
  rm -rf "$tmp" && mkdir -p "$(dirname "$cf_site")" || return 1
  # PyPI's Pyodide 314 wheels (platform tag pyemscripten_2026_0_wasm32), hash-pinned
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-compile \
    --target "$tmp" --only-binary=:all: --no-deps --require-hashes \
    --platform pyemscripten_2026_0_wasm32 --python-version 3.14 --implementation cp \
    --abi cp314 --abi abi3 --abi none -r "$cf/requirements-pyodide.txt" >&2 \
    || { echo "pip could not vendor $cf/requirements-pyodide.txt"; rm -rf "$tmp"; return 1; }
  rm -rf "$cf_site" && mv "$tmp" "$cf_site" || return 1
}
if [ ! -f "$cf_stamp" ] || [ "$(cat "$cf_stamp")" != "$cf_want" ] || [ ! -d "$cf_site" ]; then
  echo "==> installing the Pyodide host in $cf (npm ci, vendored Pyodide wheels)" >&2
  if reason="$(pyodide_host_install)"; then
    echo "$cf_want" > "$cf_stamp"
    rm -f "$cf_failed"
  else
    echo "WARNING: the Pyodide host was not installed: $reason; tests/test_pyodide_smoke.py, tests/test_r2_store.py and the cloudflare conformance runtime will skip" >&2
    echo "$reason" > "$cf_failed"
  fi
fi

# --- the Deno host (functions/deno): npm `deno` (the binary ships inside the package) and
# npm pyodide, for main.ts run with --cached-only from the project's own node_modules; the
# Python side uses the Pyodide wheels vendored above. Stamp-guarded like the block above; a
# failure writes its reason to functions/deno/.bootstrap-failed and the deno tests skip,
# quoting it.
dn=functions/deno
dn_stamp="$dn/node_modules/.nwc-bootstrap-stamp"
dn_failed="$dn/.bootstrap-failed"
dn_want="$(sha256sum "$dn/package-lock.json" | cut -c1-64)"
deno_host_install() {
  command -v npm >/dev/null 2>&1 || { echo "npm is not installed (apt-get install npm)"; return 1; }
  (cd "$dn" && npm ci --no-audit --no-fund --loglevel=error) >&2 || { echo "npm ci failed in $dn"; return 1; }
  "$dn/node_modules/.bin/deno" --version >/dev/null 2>&1 || { echo "$dn/node_modules/.bin/deno does not run"; return 1; }
}
if [ ! -f "$dn_stamp" ] || [ "$(cat "$dn_stamp")" != "$dn_want" ]; then
  echo "==> installing the Deno host in $dn (npm ci: deno, pyodide)" >&2
  if reason="$(deno_host_install)"; then
    echo "$dn_want" > "$dn_stamp"
    rm -f "$dn_failed"
  else
    echo "WARNING: the Deno host was not installed: $reason; tests/test_deno_*.py and the deno conformance and e2e runtimes will skip" >&2
    echo "$reason" > "$dn_failed"
  fi
fi

# --- parts with install steps of their own (a browser, a database, npm packages):
# scripts/bootstrap.d/*.sh, sourced in name order; each is stamp-guarded and idempotent like
# the blocks above, and one part's failure must not stop the others.
for part in scripts/bootstrap.d/*.sh; do
  [ -e "$part" ] || continue
  # shellcheck source=/dev/null
  source "$part"
done
