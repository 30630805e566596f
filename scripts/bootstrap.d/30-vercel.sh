# The real @vercel/blob SDK (functions/vercel: npm ci from its lock), run in Node only by the
# tests, to check the fake Blob API's traffic (tests/vercel_blob_api.py) against what the SDK
# sends. Nothing from it is deployed. Stamp-guarded on package-lock.json; a failure writes its
# reason to functions/vercel/.bootstrap-failed and the SDK traffic tests skip, quoting it.
vc=functions/vercel
vc_stamp="$vc/node_modules/.nwc-bootstrap-stamp"
vc_failed="$vc/.bootstrap-failed"
vc_want="$(sha256sum "$vc/package-lock.json" | cut -c1-64)"
vercel_sdk_install() {
  command -v npm >/dev/null 2>&1 || { echo "npm is not installed (apt-get install npm)"; return 1; }
  (cd "$vc" && npm ci --no-audit --no-fund --loglevel=error) >&2 || { echo "npm ci failed in $vc"; return 1; }
  [ -f "$vc/node_modules/@vercel/blob/package.json" ] || { echo "@vercel/blob is missing after npm ci"; return 1; }
}
if [ ! -f "$vc_stamp" ] || [ "$(cat "$vc_stamp")" != "$vc_want" ]; then
  echo "==> installing @vercel/blob in $vc (npm ci; for the Blob fake's traffic check)" >&2
  if reason="$(vercel_sdk_install)"; then
    echo "$vc_want" > "$vc_stamp"
    rm -f "$vc_failed"
  else
    echo "WARNING: @vercel/blob was not installed: $reason; tests/test_vercel_blob_sdk.py will skip" >&2
    echo "$reason" > "$vc_failed"
  fi
fi
