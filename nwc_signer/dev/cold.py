"""One webhook delivery in a fresh interpreter, as a cold Lambda runs it (`nwc-signer dev
--cold`, nwc_signer/dev/runtimes.py). Reads {"headers", "body"} JSON on stdin, writes
{"status", "headers", "body"}.

Kept tiny on purpose: it imports only the local function, so its cost is the function's."""

from __future__ import annotations

import json
import sys


def main() -> int:
    from functions.local import LocalFunction
    from signer_core.protocol.webhook import encode_response

    raw = json.loads(sys.stdin.buffer.read())
    response = LocalFunction(sys.argv[1]).handle(raw["headers"], raw["body"].encode())
    status, headers, body = encode_response(response)
    sys.stdout.write(json.dumps({"status": status, "headers": headers, "body": body.decode()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
