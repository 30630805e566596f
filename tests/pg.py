"""A real PostgreSQL server for the watcher's tests: started once per test session in a temp
folder (`initdb` + `pg_ctl` from PostgreSQL 15's binaries, installed by
scripts/bootstrap.d/60-postgresql.sh), one database per test module.

initdb refuses to run as root; the tests usually do (CI). The server then runs as the
`postgres` system user (Debian's package makes it), else as `nobody`, in a temp folder that
user owns; as anyone else it runs as the caller. Trust authentication on 127.0.0.1 only, a
free port, fsync off (tests). Missing binaries skip the PostgreSQL tests, quoting
.postgresql-bootstrap-failed when the bootstrap left one.

Use: `target()` below in a fixture parametrised over `BACKENDS` (SQLite and PostgreSQL);
`server()` for the server itself (restart it, make databases).
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from nwc_signer.dev.process import free_port

REPO = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("NWC_PG_BIN", "/usr/lib/postgresql/15/bin"))
FAILED_FILE = REPO / ".postgresql-bootstrap-failed"
TABLES = ("service_keys", "wallets", "used_signatures", "seen_events", "jobs", "dead_letters",
          "replicas")  # fmt: skip


def skip_reason() -> str | None:
    """Why PostgreSQL tests cannot run here, or None."""
    if (PG_BIN / "initdb").exists() and (PG_BIN / "pg_ctl").exists():
        try:
            import psycopg  # noqa: F401
        except ImportError:
            return "psycopg is not installed (docs/operating.md lists the pin)"
        return None
    why = FAILED_FILE.read_text().strip() if FAILED_FILE.exists() else "not installed"
    return f"PostgreSQL 15 binaries missing in {PG_BIN}: {why}"


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when we are root; None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root and neither a postgres nor a nobody user exists")


class PostgresServer:
    """One postmaster on 127.0.0.1:port over a temp data folder; restart() keeps the data."""

    def __init__(self) -> None:
        self.user = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="nwc-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self._databases = 0
        self._lock = threading.Lock()
        if self.user is not None:
            os.chown(self.root, *self.user)
        self.root.chmod(0o700)

    def _pg(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self.user is not None:
            kwargs = {"user": self.user[0], "group": self.user[1], "extra_groups": []}
        res: subprocess.CompletedProcess[str] = subprocess.run(  # noqa: S603 (our own binaries and arguments)
            list(argv), capture_output=True, text=True, timeout=timeout, cwd=self.root,
            check=False, **kwargs,  # type: ignore[call-overload]
        )  # fmt: skip
        if res.returncode != 0:
            said = res.stderr.strip() or res.stdout.strip()
            raise RuntimeError(f"{Path(argv[0]).name} failed ({res.returncode}): {said}\n"
                               f"{self.log_tail()}")  # fmt: skip
        return res

    def log_tail(self, lines: int = 20) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def start(self) -> PostgresServer:
        if not (self.data / "PG_VERSION").exists():
            self._pg(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                     "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")  # fmt: skip
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")  # fmt: skip
        self._pg(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                 "-o", options, "-w", "-t", "60", "start")  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Stop (every client connection is cut) and start again on the same port."""
        self.stop()
        self.start()

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, hint: str) -> str:
        """A new empty database; its URL."""
        import psycopg

        with self._lock:
            self._databases += 1
            name = re.sub(r"[^a-z0-9_]", "_", hint.lower())[:40] + f"_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


_SERVER: PostgresServer | None = None


def server() -> PostgresServer:
    """The session's server, started on first use and stopped when the interpreter exits
    (a module-level singleton: fixtures imported into several modules share it)."""
    global _SERVER
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    if _SERVER is None:
        _SERVER = PostgresServer().start()
        atexit.register(_SERVER.destroy)
    return _SERVER


def empty(url: str) -> None:
    """Delete every watcher row (migrations and the registry version stay)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        present = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()}  # fmt: skip
        names = [t for t in TABLES if t in present]
        if names:
            # CASCADE: tables added later that reference these (lightning_addresses) go too
            conn.execute(f"TRUNCATE {', '.join(names)} CASCADE")


BACKENDS = ["sqlite", "postgresql"]
_MODULE_DATABASES: dict[str, str] = {}


def module_database(module: str) -> str:
    """One database per test module (its URL), made on first use."""
    if module not in _MODULE_DATABASES:
        _MODULE_DATABASES[module] = server().create_database(module.rsplit(".", 1)[-1])
    return _MODULE_DATABASES[module]


def target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """What a test's watcher is given for the backend of `request.param`: a fresh SQLite
    file, or its module's PostgreSQL database emptied for this test. A test module makes it
    a fixture of its own:

        @pytest.fixture(params=pg.BACKENDS)
        def watcher_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
            return pg.target(request, tmp_path)
    """
    if request.param == "sqlite":
        return tmp_path / "w.db"
    url = module_database(request.module.__name__)
    empty(url)
    return url
