# Debian's chromium for the browser tests (Playwright drives it through `executable_path`;
# no browser download). Installed with apt-get when missing and we may (root, apt-get
# present). A failure writes .chromium-bootstrap-failed and the browser tests skip, quoting it.
chromium_failed=.chromium-bootstrap-failed
chromium_install() {
  command -v chromium >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || { echo "chromium is missing and there is no apt-get"; return 1; }
  [ "$(id -u)" -eq 0 ] || { echo "chromium is missing: run 'apt-get install chromium' as root"; return 1; }
  echo "==> installing chromium (apt-get)" >&2
  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; }) \
    || { echo "apt-get install chromium failed"; return 1; }
  command -v chromium >/dev/null 2>&1 || { echo "chromium is not on PATH after apt-get"; return 1; }
}
if reason="$(chromium_install)"; then
  rm -f "$chromium_failed"
else
  echo "WARNING: no chromium: $reason; the browser tests will skip" >&2
  echo "$reason" > "$chromium_failed"
fi
