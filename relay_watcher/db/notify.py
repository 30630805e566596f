"""New jobs announced across replicas with PostgreSQL LISTEN/NOTIFY.

Accepting requests (queue.accept_events) sends `NOTIFY nwc_watcher_jobs` in its transaction,
so every replica hears of new jobs when they commit, instead of on its next poll (it used to
poll every second; the replica that accepted a job still starts it at once). A replica
listens on a connection of its own, in a daemon thread (psycopg's `notifies()` blocks), and
wakes its dispatcher; a lost connection is reopened every RETRY_S and the poll stays as the
fallback, so a lost notification costs at most a second, never a job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

CHANNEL = "nwc_watcher_jobs"
RETRY_S = 1.0

log = logging.getLogger("relay_watcher.db")


class JobListener:
    def __init__(self, url: str, on_notice: Callable[[], None]) -> None:
        self.url, self.on_notice = url, on_notice
        self.connected = False
        self.notices = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watcher-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.connected = True
                    while not self._stop.is_set():
                        # back as soon as one arrives (the timeout is the stop check)
                        heard = list(conn.notifies(timeout=RETRY_S, stop_after=1))
                        if heard:
                            self.notices += len(heard)
                            self.on_notice()
            except psycopg.Error as exc:
                log.debug("job notifications paused: %s", str(exc).strip()[:200])
            except Exception:
                log.exception("job notifications failed; retrying")
            self.connected = False
            self._stop.wait(RETRY_S)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3 * RETRY_S)
