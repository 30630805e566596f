"""The Worker upload, shaped as ``wrangler deploy`` 4.164.0 shapes it (recorded in
tests/fixtures/cloudflare/wrangler_deploy.json; compared live in tests/test_deploy_cloudflare.py):

- ``PUT /accounts/{id}/workers/scripts/{name}?excludeScript=true&bindings_inherit=strict``
- a ``metadata`` form field (JSON, no filename, no content type): ``main_module``, bindings
  (vars as ``plain_text`` first, then ``r2_bucket``, then ``d1`` with ``id``),
  ``compatibility_date``, ``compatibility_flags: ["python_workers"]``, ``code_update_strategy``
  and ``keep_bindings: ["secret_text", "secret_key"]`` (a code upload keeps the secrets);
- one part per module, named and file-named by its module name, ``text/x-python`` for our
  ``.py`` files and ``application/octet-stream`` for ``python_modules/...``.
"""

from __future__ import annotations

import json
from typing import Any

from deploy.cloudflare.bundle import MAIN_MODULE, Module

COMPATIBILITY_DATE = "2026-11-01"
COMPATIBILITY_FLAGS = ["python_workers"]
STATE_BINDING, GUARD_BINDING = "STATE", "GUARD"


def metadata(
    *,
    bucket: str,
    database_id: str,
    watcher_pubkey: str,
    compatibility_date: str = COMPATIBILITY_DATE,
) -> dict[str, Any]:
    return {
        "main_module": MAIN_MODULE,
        "bindings": [
            {"name": "WATCHER_PUBKEY", "type": "plain_text", "text": watcher_pubkey},
            {"name": STATE_BINDING, "type": "r2_bucket", "bucket_name": bucket},
            {"name": GUARD_BINDING, "type": "d1", "id": database_id},
        ],
        "compatibility_date": compatibility_date,
        "compatibility_flags": list(COMPATIBILITY_FLAGS),
        "code_update_strategy": {"mode": "deferred", "max_delay": 300},
        "keep_bindings": ["secret_text", "secret_key"],
    }


def multipart_fields(
    meta: dict[str, Any], modules: list[Module]
) -> tuple[dict[str, str], list[tuple[str, tuple[str, bytes, str]]]]:
    """(form fields, file parts) for httpx: ``metadata`` first, then the modules in order."""
    data = {"metadata": json.dumps(meta, separators=(",", ":"))}
    files = [(m.name, (m.name, m.path.read_bytes(), m.content_type)) for m in modules]
    return data, files
