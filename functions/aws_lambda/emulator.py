"""A local Lambda Function URL: HTTP in, a payload-2.0 Function URL event to the real
handler, its response dict back out as HTTP. For `nwc-signer dev --runtime lambda` and the
tests; it mirrors what AWS does in front of the function (lower-cased headers joined with
commas, non-text bodies base64-encoded with isBase64Encoded, 6 MB request limit), so the
handler cannot rely on anything AWS would not give it.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FUNCTION_URL_MAX_BYTES = 6 * 1024 * 1024
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


class FakeContext:
    """The parts of the Lambda context Powertools reads (time left, names, request id)."""

    def __init__(self, timeout_s: float = 30.0, name: str = "nwc-signer-local") -> None:
        self._deadline = time.monotonic() + timeout_s
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 256
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def function_url_event(
    method: str, path: str, query: str, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    """The event a Function URL hands the function (payload format 2.0)."""
    lower: dict[str, str] = {}
    for key, value in headers.items():
        k = key.lower()
        lower[k] = f"{lower[k]},{value}" if k in lower else value
    ctype = lower.get("content-type", "")
    is_text = ctype.startswith(_TEXT_TYPES)
    if body and is_text:
        try:
            text, b64 = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, b64 = base64.b64encode(body).decode(), True
    else:
        text, b64 = base64.b64encode(body).decode(), bool(body)
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": lower,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": lower.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": lower.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": b64,
    }
    if body:
        event["body"] = text
    return event


def http_response(result: Any) -> tuple[int, dict[str, str], bytes]:
    """What a Function URL makes of the handler's return value."""
    if not isinstance(result, dict) or "statusCode" not in result:
        body = json.dumps(result).encode()
        return 200, {"Content-Type": "application/json"}, body
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers[str(key)] = ",".join(str(v) for v in values)
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    return int(result["statusCode"]), headers, body


def make_server(
    handler: Callable[[dict[str, Any], Any], Any], host: str = "127.0.0.1", port: int = 0
) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        server_version = "nwc-signer-function-url"

        def _invoke(self, method: str) -> None:
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if length < 0 or length > FUNCTION_URL_MAX_BYTES:
                self._send(413, {"Content-Type": "application/json"}, b'{"message":"too large"}')
                return
            body = self.rfile.read(length) if length else b""
            path, _, query = self.path.partition("?")
            event = function_url_event(method, path, query, dict(self.headers.items()), body)
            try:
                result = handler(event, FakeContext())
            except Exception:  # an unhandled error: AWS answers 502
                self._send(502, {"Content-Type": "application/json"}, b'{"message":"error"}')
                return
            self._send(*http_response(result))

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            self._invoke("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._invoke("POST")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return ThreadingHTTPServer((host, port), Handler)
