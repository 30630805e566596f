"""Deploy jobs: named steps run one at a time on a thread, their progress kept in SQLite
(nothing secret), their secrets kept in memory only.

A job runs its steps in order and stops at the first failure; ``resume`` runs the failed
step and the ones after it, never a step that is done, so a reload, a retry or a second tab
can never deploy twice. Only one runner per job exists at a time.

Where secrets live: ``Job.secrets`` (the platform token, the recovery phrase and the first
connection's URI, memory only) and, while the deploy runs, the job's private wallet folder
``work_dir/wallets/<job id>/`` (0700; seed and root secret as 0600 files, as the CLI keeps
them). The folder is wiped when the deploy is done, when the job expires, and at start-up.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("onboarding.jobs")

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"


class StepError(Exception):
    """A step failed in a way the user can act on: ``action`` says which button the page
    offers ("retry", "authorise", "token", "rename", "start_over")."""

    def __init__(self, message: str, action: str = "retry") -> None:
        super().__init__(message)
        self.action = action


@dataclass
class Step:
    key: str
    label: str
    status: str = PENDING
    detail: str = ""  # the last progress line (never secret)

    def view(self) -> dict[str, str]:
        return {"key": self.key, "label": self.label, "status": self.status, "detail": self.detail}


@dataclass
class Secrets:
    """What a job holds in memory only; ``wipe`` forgets it."""

    token: str | None = None
    mnemonic: str | None = None
    uri: str | None = None
    admin_uri: str | None = None  # the home page's admin connection, handed over once

    def wipe(self) -> None:
        self.token = self.mnemonic = self.uri = self.admin_uri = None


@dataclass
class Job:
    id: str
    platform: str
    name: str  # the Worker's or the app's name
    steps: list[Step]
    wallet_dir: Path
    status: str = PENDING  # pending, running, failed, done, finished, interrupted, expired
    error: str = ""
    action: str = ""  # what the page offers after a failure
    url: str = ""  # the deployed function's URL
    code_hash: str = ""
    wallet_made: bool = False  # a wallet exists in the user's account (its state was written)
    phrase_confirmed: bool = False
    confirm_words: tuple[int, int] = (1, 2)  # the 1-based positions asked back
    created: float = field(default_factory=time.time)
    touched: float = field(default_factory=time.time)
    secrets: Secrets = field(default_factory=Secrets, repr=False)
    work: dict[str, Callable[[Job], None]] = field(default_factory=dict, repr=False)
    context: dict[str, Any] = field(default_factory=dict, repr=False)  # the platform's objects
    thread: threading.Thread | None = field(default=None, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def step(self, key: str) -> Step:
        return next(s for s in self.steps if s.key == key)

    def say(self, key: str) -> Callable[[str], None]:
        def say(line: str) -> None:
            self.step(key).detail = line[:300]

        return say

    def view(self) -> dict[str, Any]:
        """What the page polls: progress and errors, never a secret."""
        return {
            "id": self.id,
            "platform": self.platform,
            "name": self.name,
            "status": self.status,
            "error": self.error,
            "action": self.action,
            "url": self.url,
            "code_hash": self.code_hash,
            "wallet_made": self.wallet_made,
            "steps": [s.view() for s in self.steps],
        }


class JobStore:
    """Jobs in memory, their progress (never their secrets) mirrored into SQLite so that a
    restarted service can say what happened to a deploy it was running."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.wallets = self.work_dir / "wallets"
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.db = sqlite3.connect(self.work_dir / "jobs.sqlite3", check_same_thread=False)
        self.db.execute("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, record TEXT)")
        self.db.commit()
        self.startup()

    def startup(self) -> None:
        """Wipe every wallet folder (no deploy survives a restart with its secrets) and mark
        the deploys that were running as interrupted."""
        if self.wallets.exists():
            shutil.rmtree(self.wallets)
        self.wallets.mkdir(mode=0o700)
        with self.lock:
            rows = self.db.execute("SELECT id, record FROM jobs").fetchall()
            for job_id, text in rows:
                record = json.loads(text)
                if record.get("status") in (PENDING, RUNNING, FAILED):
                    record["status"] = "interrupted"
                    self.db.execute(
                        "UPDATE jobs SET record = ? WHERE id = ?", (json.dumps(record), job_id)
                    )
            self.db.commit()

    def new(self, platform: str, name: str, steps: list[Step]) -> Job:
        job_id = secrets.token_urlsafe(18)
        # one word from each half of the 12 (1-6, 7-12), asked back to confirm the phrase
        ask = (secrets.randbelow(6) + 1, secrets.randbelow(6) + 7)
        job = Job(job_id, platform, name, steps, self.wallets / job_id, confirm_words=ask)
        with self.lock:
            self.jobs[job_id] = job
        self.save(job)
        return job

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            return self.jobs.get(job_id)

    def record(self, job_id: str) -> dict[str, Any] | None:
        """A job this process no longer holds (restarted since): its last progress."""
        with self.lock:
            row = self.db.execute("SELECT record FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def save(self, job: Job) -> None:
        job.touched = time.time()
        text = json.dumps(job.view())
        with self.lock:
            self.db.execute(
                "INSERT OR REPLACE INTO jobs (id, record) VALUES (?, ?)", (job.id, text)
            )
            self.db.commit()

    def wipe_wallet(self, job: Job) -> None:
        if job.wallet_dir.exists():
            shutil.rmtree(job.wallet_dir)

    def forget(self, job: Job, status: str) -> None:
        """Drop a job's secrets and folder for good (finished, expired, abandoned)."""
        job.secrets.wipe()
        job.context.clear()
        self.wipe_wallet(job)
        job.status = status
        self.save(job)

    def expire(self, ttl_s: float, now: float | None = None) -> None:
        """Forget the secrets of jobs left idle longer than ``ttl_s``."""
        now = time.time() if now is None else now
        with self.lock:
            stale = [
                j
                for j in self.jobs.values()
                if now - j.touched > ttl_s and j.status not in ("finished", "expired")
            ]
        for job in stale:
            if job.thread is None or not job.thread.is_alive():
                self.forget(job, "expired")

    def close(self) -> None:
        self.db.close()


def resume(store: JobStore, job: Job) -> bool:
    """Run the job's remaining steps on a thread; False when it is already running or done."""
    with job.lock:
        if job.thread is not None and job.thread.is_alive():
            return False
        if job.status in ("done", "finished", "expired", "interrupted"):
            return False
        job.status, job.error, job.action = RUNNING, "", ""
        for s in job.steps:
            if s.status == FAILED:
                s.status = PENDING
        store.save(job)
        job.thread = threading.Thread(
            target=_run, args=(store, job), daemon=True, name=f"deploy-{job.platform}"
        )
        job.thread.start()
        return True


def _run(store: JobStore, job: Job) -> None:
    for step in job.steps:
        if step.status == DONE:
            continue
        step.status = RUNNING
        store.save(job)
        try:
            job.work[step.key](job)
        except StepError as exc:
            _fail(store, job, step, str(exc), exc.action)
            return
        except Exception as exc:  # a step's unexpected failure: say it, keep the job resumable
            log.error("deploy %s: step %s failed: %s", job.id, step.key, type(exc).__name__)
            _fail(store, job, step, f"unexpected error ({type(exc).__name__}); try again", "retry")
            return
        step.status = DONE
        store.save(job)
    job.status = DONE
    store.wipe_wallet(job)  # the wallet lives in the user's account now
    store.save(job)


def _fail(store: JobStore, job: Job, step: Step, message: str, action: str) -> None:
    step.status = FAILED
    job.status, job.error, job.action = FAILED, message, action
    log.info("deploy %s: step %s failed (%s)", job.id, step.key, action)
    store.save(job)
