"""Secrets never reach logs: searched across every log record the suite produced.

Named to run last (pytest collects files in name order); it checks every secret that the
earlier tests registered (root secrets, recovery phrases, connection secrets, data keys).
"""

from __future__ import annotations

import logging

from tests.log_guard import RECORDS
from tests.nwc import SECRETS_SEEN


def _leaks(records: list[str], secrets: set[str]) -> list[str]:
    found = []
    for secret in secrets:
        needles = {secret}
        if len(secret) == 64:  # also look for halves, in case a key was logged in parts
            needles |= {secret[:32], secret[32:]}
        if any(n in r for r in records for n in needles):
            found.append(secret[:6] + "…")
    return found


def test_the_detector_catches_a_logged_secret() -> None:
    secret = "ab" * 32
    before = len(RECORDS)
    logging.getLogger("nwc_signer.test").debug("oops %s", secret)
    assert _leaks(RECORDS[before:], {secret}) == [secret[:6] + "…"]
    del RECORDS[before:]


def test_no_secret_reached_any_log() -> None:
    if not SECRETS_SEEN:  # running this file alone: nothing to check against
        import pytest

        pytest.skip("no scenario ran in this session")
    assert RECORDS, "no log record was captured: the guard is not wired in"
    assert _leaks(RECORDS, SECRETS_SEEN) == []
