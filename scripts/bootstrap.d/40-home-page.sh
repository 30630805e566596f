# The wallet's home page (onboarding/static/home): npm ci of its pinned packages
# (@getalby/sdk, qrcode, esbuild...) and the esbuild bundle into its gitignored dist/.
# Stamp-guarded on the lock file and the page's sources; a failure writes its reason to
# onboarding/static/home/.bootstrap-failed and the home page's browser tests skip, quoting it.
home=onboarding/static/home
home_stamp="$home/dist/.nwc-bootstrap-stamp"
home_failed="$home/.bootstrap-failed"
home_want="$(cat "$home/package-lock.json" "$home"/src/*.js | sha256sum | cut -c1-64)"
home_page_build() {
  command -v npm >/dev/null 2>&1 || { echo "npm is not installed (apt-get install npm)"; return 1; }
  (cd "$home" && npm ci --no-audit --no-fund --loglevel=error) >&2 || { echo "npm ci failed in $home"; return 1; }
  (cd "$home" && npm run --silent build) >&2 || { echo "the esbuild bundle of $home failed"; return 1; }
  [ -s "$home/dist/app.js" ] || { echo "$home/dist/app.js was not built"; return 1; }
}
if [ ! -f "$home_stamp" ] || [ "$(cat "$home_stamp")" != "$home_want" ]; then
  echo "==> building the home page in $home (npm ci, esbuild)" >&2
  if reason="$(home_page_build)"; then
    echo "$home_want" > "$home_stamp"
    rm -f "$home_failed"
  else
    echo "WARNING: the home page was not built: $reason; its browser tests will skip" >&2
    echo "$reason" > "$home_failed"
  fi
fi
