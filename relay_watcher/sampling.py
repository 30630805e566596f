"""A CPU-weighted sampling profile of a replica's Python threads (NWC_WATCHER_SAMPLE=DIR).

cProfile (NWC_WATCHER_PROFILE) times every Python call, which inflates call-heavy code
(nostr-sdk's bindings, asyncio) several times over. This samples instead: every few
milliseconds a thread reads each Python thread's stack and charges it the CPU time that
thread used since the last look (its own CPU clock), so idle waits cost nothing and native
work (libsecp256k1, socket calls) is charged to the Python line that called it. Written at
stop as `DIR/sample-PID.txt`: one line per stack, "thread;outer;...;inner microseconds"
(the folded format flame-graph tools read).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from types import FrameType

INTERVAL_S = 0.002


class Sampler:
    def __init__(self, folder: str) -> None:
        self.path = os.path.join(folder, f"sample-{os.getpid()}.txt")
        self.stacks: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        with open(self.path, "w") as out:
            for stack, us in self.stacks.most_common():
                out.write(f"{stack} {us}\n")

    def _run(self) -> None:
        last: dict[int, float] = {}
        me = threading.get_ident()
        while not self._stop.wait(INTERVAL_S):
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                try:
                    cpu = time.clock_gettime(time.pthread_getcpuclockid(ident))
                except (OSError, OverflowError):
                    continue
                used = cpu - last.get(ident, cpu)
                last[ident] = cpu
                if used > 0:
                    name = names.get(ident, "?").split(" ")[0]
                    self.stacks[f"{name};{_fold(frame)}"] += int(used * 1e6)


def _fold(frame: FrameType | None) -> str:
    parts: list[str] = []
    while frame is not None:
        code = frame.f_code
        parts.append(f"{os.path.basename(code.co_filename)}:{code.co_name}")
        frame = frame.f_back
    return ";".join(reversed(parts))
