# PostgreSQL 15's server binaries for the watcher's PostgreSQL tests (tests/pg.py starts its
# own server in a temp folder with initdb + pg_ctl; nothing runs as a system service).
# Installed with apt-get when missing and we may (root, apt-get present); Debian's package
# is told not to create and start its own main cluster. Guarded by the binaries themselves
# and a stamp of what was found; a failure writes .postgresql-bootstrap-failed and the
# PostgreSQL tests skip, quoting it.
pg_failed=.postgresql-bootstrap-failed
pg_stamp=.venv/.postgresql-bootstrap-stamp  # .venv: ignored by git
pg_bin="${NWC_PG_BIN:-/usr/lib/postgresql/15/bin}"
postgresql_install() {
  [ -x "$pg_bin/initdb" ] && [ -x "$pg_bin/pg_ctl" ] && return 0
  command -v apt-get >/dev/null 2>&1 || { echo "PostgreSQL 15 is missing ($pg_bin) and there is no apt-get"; return 1; }
  [ "$(id -u)" -eq 0 ] || { echo "PostgreSQL 15 is missing: run 'apt-get install postgresql-15' as root"; return 1; }
  echo "==> installing PostgreSQL 15 (apt-get; for the watcher's PostgreSQL tests)" >&2
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/nwc-signer.conf
  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null 2>&1; }) \
    || { echo "apt-get install postgresql-15 failed"; return 1; }
  [ -x "$pg_bin/initdb" ] || { echo "no initdb in $pg_bin after apt-get"; return 1; }
}
pg_have="$(ls -l "$pg_bin/initdb" 2>/dev/null || true)"
if [ -z "$pg_have" ] || [ ! -f "$pg_stamp" ] || [ "$(cat "$pg_stamp")" != "$pg_have" ]; then
  if reason="$(postgresql_install)"; then
    rm -f "$pg_failed"
    ls -l "$pg_bin/initdb" > "$pg_stamp"
  else
    echo "WARNING: no PostgreSQL 15: $reason; the watcher's PostgreSQL tests will skip" >&2
    echo "$reason" > "$pg_failed"
  fi
fi
