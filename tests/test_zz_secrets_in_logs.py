"""Secrets never reach logs: searched across every log record the suite produced.

Named to run last (pytest collects files in name order); it checks every secret that the
earlier tests registered (root secrets, recovery phrases, connection secrets, data keys).
"""

from __future__ import annotations

import logging
import re

from tests.log_guard import RECORDS
from tests.nwc import SECRETS_SEEN

HEX_RUN = re.compile(r"[0-9a-fA-F]{32,}")
PIECE = 32  # a hex secret is also looked for in parts this long (a key logged in halves)


def _leaks(records: list[str], secrets: set[str]) -> list[str]:
    """The secrets found in any record (shortened). Linear in the log's size: the suite logs
    hundreds of MB at DEBUG and registers thousands of secrets, so instead of searching
    the logs once per secret, every 32-hex-digit window of the logs' hex runs is looked up
    in a set of the hex secrets' pieces; other secrets (phrases, tokens) are searched as
    text, once each, in the distinct records."""
    blob = "\0".join(set(records))  # many records repeat; NUL never occurs in a secret
    pieces: dict[str, str] = {}
    others: list[str] = []
    for secret in secrets:
        if len(secret) >= PIECE and HEX_RUN.fullmatch(secret):
            low = secret.lower()
            for start in range(0, len(low) - PIECE + 1, PIECE // 2):
                pieces[low[start : start + PIECE]] = secret
        else:
            others.append(secret)
    found = set()
    for match in HEX_RUN.finditer(blob):
        run = match.group().lower()
        for start in range(len(run) - PIECE + 1):
            secret = pieces.get(run[start : start + PIECE])
            if secret is not None:
                found.add(secret)
    found.update(secret for secret in others if secret and secret in blob)
    return sorted(secret[:6] + "…" for secret in found)


def test_the_detector_catches_a_logged_secret() -> None:
    secret = "ab" * 32
    before = len(RECORDS)
    logging.getLogger("nwc_signer.test").debug("oops %s", secret)
    assert _leaks(RECORDS[before:], {secret}) == [secret[:6] + "…"]
    # a half of a key, inside a longer hex string, and a non-hex secret are caught too
    logging.getLogger("nwc_signer.test").debug("id=ff%sff", secret[32:])
    phrase = "abandon ability able"
    logging.getLogger("nwc_signer.test").debug("words %s", phrase)
    assert _leaks(RECORDS[before + 1 :], {secret, phrase}) == sorted(
        [secret[:6] + "…", phrase[:6] + "…"]
    )
    assert _leaks(RECORDS[before:], {"cd" * 32, "not logged"}) == []
    del RECORDS[before:]


def test_no_secret_reached_any_log() -> None:
    if not SECRETS_SEEN:  # running this file alone: nothing to check against
        import pytest

        pytest.skip("no scenario ran in this session")
    assert RECORDS, "no log record was captured: the guard is not wired in"
    assert _leaks(RECORDS, SECRETS_SEEN) == []
