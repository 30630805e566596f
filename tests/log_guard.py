"""A pytest plugin that captures every log record of the whole run (DEBUG and up), so
tests/test_zz_secrets_in_logs.py can search them for any secret a test created."""

from __future__ import annotations

import logging

import pytest

RECORDS: list[str] = []


class _Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a broken record must not hide the others
            text = repr(record.__dict__)
        RECORDS.append(text + " " + repr(record.__dict__))


_handler = _Collect(level=logging.DEBUG)
_handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    root = logging.getLogger()
    root.addHandler(_handler)
    root.setLevel(logging.DEBUG)
