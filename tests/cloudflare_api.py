"""A loopback fake of the Cloudflare v4 API: the calls that ``wrangler deploy``/``secret put``/
``r2``/``d1`` (4.164.0) and ``nwc-signer deploy cloudflare`` make, with state.

It keeps what it is given (scripts with their multipart parts, secrets, schedules, the
workers.dev switch, R2 buckets and objects, D1 databases as real in-memory SQLite) and logs
every request with its Authorization header replaced by a marker. Its answers follow the
shapes of the ``cloudflare`` SDK's models; tests/test_deploy_cloudflare.py drives it through
the SDK with strict response validation, so a wrong shape fails there.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

NOW = "2026-11-30T00:00:00.000000Z"
PREFIX = "/client/v4"


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Script:
    metadata: dict[str, Any]
    parts: list[Part]
    secrets: dict[str, str] = field(default_factory=dict)
    schedules: list[dict[str, str]] = field(default_factory=list)
    subdomain_enabled: bool = False
    uploads: int = 1


@dataclass
class Database:
    uuid: str
    name: str
    db: sqlite3.Connection


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """multipart/form-data, byte-exact (the email package may rewrite binary parts)."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    if boundary is None:
        raise ValueError("no multipart boundary")
    delimiter = b"--" + boundary.group(1).encode()
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        parts.append(
            Part(
                name.group(1) if name else "",
                filename.group(1) if filename else None,
                headers.get("content-type"),
                data[:-2] if data.endswith(b"\r\n") else data,
            )
        )
    return parts


class FakeCloudflare:
    """State plus a ThreadingHTTPServer on 127.0.0.1; ``base_url`` ends in /client/v4."""

    def __init__(
        self, token: str = "test-token", account_id: str = "acc1", subdomain: str = "alice"
    ) -> None:
        self.token, self.account_id, self.subdomain = token, account_id, subdomain
        self.accounts = [{"id": account_id, "name": "Alice's account", "type": "standard"}]
        self.buckets: dict[str, dict[str, bytes]] = {}
        self.databases: dict[str, Database] = {}
        self.scripts: dict[str, Script] = {}
        self.log: list[dict[str, Any]] = []
        self.fail: dict[str, tuple[int, int, str]] = {}  # path regex -> (status, code, message)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{PREFIX}"

    def __enter__(self) -> FakeCloudflare:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def rows(self, database_name: str, sql: str) -> list[tuple[Any, ...]]:
        found = [d for d in self.databases.values() if d.name == database_name]
        return list(found[0].db.execute(sql).fetchall()) if found else []

    # --- HTTP -------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                auth = self.headers.get("authorization", "")
                headers = {k.lower(): v for k, v in self.headers.items()}
                headers["authorization"] = "<valid>" if auth == f"Bearer {fake.token}" else "<bad>"
                entry = {"method": self.command, "path": url.path, "query": url.query,
                         "headers": headers, "body": body}  # fmt: skip
                with fake._lock:
                    fake.log.append(entry)
                    status, payload = fake._route(self.command, url.path, url.query, auth,
                                                  headers, body)  # fmt: skip
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                ctype = "application/octet-stream" if isinstance(payload, bytes) else (
                    "application/json")  # fmt: skip
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _any

        return Handler

    @staticmethod
    def ok(result: Any, **extra: Any) -> tuple[int, Any]:
        return 200, {"success": True, "errors": [], "messages": [], "result": result, **extra}

    @staticmethod
    def err(status: int, code: int, message: str) -> tuple[int, Any]:
        return status, {"success": False, "errors": [{"code": code, "message": message}],
                        "messages": [], "result": None}  # fmt: skip

    def _route(
        self, method: str, path: str, query: str, auth: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        if auth != f"Bearer {self.token}":
            return self.err(403, 10000, "Authentication error")
        for pattern, (status, code, message) in self.fail.items():
            if re.search(pattern, f"{method} {path}"):
                return self.err(status, code, message)
        if not path.startswith(PREFIX):
            return self.err(404, 7000, "No route for that URI")
        path = path[len(PREFIX):]
        params = {k: v[0] for k, v in parse_qs(query).items()}
        if path in ("/accounts", "/memberships"):
            if int(params.get("page", "1")) > 1:
                return self.ok([], result_info={"page": 2, "per_page": 20, "count": 0,
                                                "total_count": len(self.accounts)})  # fmt: skip
            items = self.accounts if path == "/accounts" else [
                {"id": a["id"], "account": a, "status": "accepted"} for a in self.accounts]
            return self.ok(items, result_info={"page": 1, "per_page": 20, "count": len(items),
                                               "total_count": len(items)})  # fmt: skip
        match = re.fullmatch(r"/accounts/([^/]+)(/.*)", path)
        if match is None or match.group(1) != self.account_id:
            return self.err(403, 10000, "Authentication error")
        rest = match.group(2)
        for prefix, handler in (("/r2/", self._r2), ("/d1/", self._d1), ("/workers/", self._w)):
            if rest.startswith(prefix):
                return handler(method, rest[len(prefix) - 1:], params, headers, body)
        return self.err(404, 7000, "No route for that URI")

    # --- R2 ---------------------------------------------------------------------------

    def _bucket(self, name: str) -> dict[str, Any]:
        return {"name": name, "creation_date": NOW, "location": "wnam", "storage_class": "Standard"}

    def _r2(self, method: str, rest: str, params: dict[str, str], headers: dict[str, str],
            body: bytes) -> tuple[int, Any]:  # fmt: skip
        if rest == "/buckets" and method == "POST":
            name = json.loads(body)["name"]
            if name in self.buckets:
                return self.err(409, 10004, "The bucket you tried to create already exists, "
                                "and you own it.")  # fmt: skip
            self.buckets[name] = {}
            return self.ok(self._bucket(name))
        match = re.fullmatch(r"/buckets/([^/]+)(?:/objects/(.+))?", rest)
        if match is None:
            return self.err(404, 7000, "No route for that URI")
        bucket, key = match.group(1), match.group(2)
        if bucket not in self.buckets:
            return self.err(404, 10006, "The specified bucket does not exist.")
        if key is None:
            return self.ok(self._bucket(bucket)) if method == "GET" else self.err(405, 7001, "")
        key = unquote(key)
        objects = self.buckets[bucket]
        if method == "GET":
            if key not in objects:
                return self.err(404, 10007, "The specified key does not exist.")
            return 200, objects[key]
        if method == "PUT":
            objects[key] = body
            return self.ok({"key": key, "size": str(len(body)), "etag": f"e{len(objects)}",
                            "uploaded": NOW, "storage_class": "Standard"})  # fmt: skip
        return self.err(405, 7001, "method not allowed")

    # --- D1 ---------------------------------------------------------------------------

    def _database(self, d: Database) -> dict[str, Any]:
        return {"uuid": d.uuid, "name": d.name, "created_at": NOW, "version": "production",
                "num_tables": 0, "file_size": 0}  # fmt: skip

    def _d1(self, method: str, rest: str, params: dict[str, str], headers: dict[str, str],
            body: bytes) -> tuple[int, Any]:  # fmt: skip
        if rest == "/database" and method == "GET":
            found = [self._database(d) for d in self.databases.values()
                     if "name" not in params or d.name == params["name"]]  # fmt: skip
            if int(params.get("page", "1")) > 1:
                found = []
            return self.ok(found, result_info={"page": 1, "per_page": 20, "count": len(found),
                                               "total_count": len(found)})  # fmt: skip
        if rest == "/database" and method == "POST":
            name = json.loads(body)["name"]
            if any(d.name == name for d in self.databases.values()):
                return self.err(400, 7502, "A database with that name already exists")
            d = Database(str(uuid.uuid4()), name, sqlite3.connect(":memory:",
                                                                  check_same_thread=False))
            self.databases[d.uuid] = d
            return self.ok(self._database(d))
        match = re.fullmatch(r"/database/([^/]+)/query", rest)
        if match is None or match.group(1) not in self.databases or method != "POST":
            return self.err(404, 7404, "The database could not be found")
        request = json.loads(body)
        db = self.databases[match.group(1)].db
        try:
            cursor = db.execute(request["sql"], request.get("params") or [])
            cols = [c[0] for c in cursor.description or []]
            rows = [dict(zip(cols, row, strict=True)) for row in cursor.fetchall()]
            db.commit()
        except sqlite3.Error as exc:
            return self.err(400, 7500, f"{exc}: SQLITE_ERROR")
        meta = {"changed_db": cursor.rowcount > 0, "changes": max(cursor.rowcount, 0),
                "duration": 0.1, "last_row_id": cursor.lastrowid or 0, "rows_read": len(rows),
                "rows_written": max(cursor.rowcount, 0), "size_after": 8192}  # fmt: skip
        return self.ok([{"results": rows, "success": True, "meta": meta}])

    # --- Workers ----------------------------------------------------------------------

    def _script_result(self, name: str) -> dict[str, Any]:
        s = self.scripts[name]
        return {"id": name, "etag": f"etag{s.uploads}", "handlers": ["fetch", "scheduled"],
                "created_on": NOW, "modified_on": NOW, "usage_model": "standard",
                "compatibility_date": s.metadata.get("compatibility_date"),
                "has_modules": True, "startup_time_ms": 10}  # fmt: skip

    def _settings(self, name: str) -> dict[str, Any]:
        s = self.scripts[name]
        bindings = [dict(b) for b in s.metadata.get("bindings", [])]
        for b in bindings:
            if b["type"] == "d1":  # the API answers with database_id
                b["database_id"] = b.pop("id", b.get("database_id"))
        bindings += [{"name": k, "type": "secret_text"} for k in s.secrets]
        return {"bindings": bindings, "compatibility_date": s.metadata.get("compatibility_date"),
                "compatibility_flags": s.metadata.get("compatibility_flags", []),
                "logpush": False, "tags": [], "tail_consumers": [],
                "usage_model": "standard"}  # fmt: skip

    def _upload(self, name: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        parts = parse_multipart(headers.get("content-type", ""), body)
        meta = [p for p in parts if p.name == "metadata"]
        if not meta:
            return self.err(400, 10021, "No metadata part")
        metadata = json.loads(meta[0].data)
        modules = [p for p in parts if p.name != "metadata"]
        if metadata.get("main_module") not in {p.filename or p.name for p in modules}:
            return self.err(400, 10021, "main_module is not one of the uploaded parts")
        old = self.scripts.get(name)
        script = Script(metadata, modules)
        if old is not None:  # keep_bindings: secrets survive a code upload
            script.secrets = old.secrets if "secret_text" in metadata.get(
                "keep_bindings", []) else {}  # fmt: skip
            script.schedules, script.subdomain_enabled = old.schedules, old.subdomain_enabled
            script.uploads = old.uploads + 1
        self.scripts[name] = script
        return self.ok(self._script_result(name))

    def _w(self, method: str, rest: str, params: dict[str, str], headers: dict[str, str],
           body: bytes) -> tuple[int, Any]:  # fmt: skip
        if rest == "/subdomain":
            return self.ok({"subdomain": self.subdomain})
        match = re.fullmatch(r"/(services|workers|scripts)/([^/]+)(/.*)?", rest)
        if match is None:
            return self.err(404, 7000, "No route for that URI")
        kind, name, sub = match.group(1), match.group(2), match.group(3) or ""
        if kind == "scripts" and sub == "" and method == "PUT":
            return self._upload(name, headers, body)
        if name not in self.scripts:
            code = 10090 if kind == "services" else 10007
            return self.err(404, code, "workers.api.error.script_not_found")
        s = self.scripts[name]
        if kind == "workers":  # wrangler reads the workers.dev switch from here
            return self.ok({"id": name, "name": name, "subdomain": {
                "enabled": s.subdomain_enabled, "previews_enabled": False}})  # fmt: skip
        if kind != "scripts" or (sub == "" and method == "GET"):
            return self.ok({"id": name, "default_environment": {"environment": "production",
                            "script": self._script_result(name)}, "created_on": NOW})  # fmt: skip
        if sub == "/settings":
            return self.ok(self._settings(name))
        if sub == "/secrets" and method == "GET":
            return self.ok([{"name": k, "type": "secret_text"} for k in s.secrets])
        if sub == "/secrets" and method == "PUT":
            secret = json.loads(body)
            s.secrets[secret["name"]] = secret["text"]
            return self.ok({"name": secret["name"], "type": "secret_text"})
        if sub == "/schedules" and method == "PUT":
            s.schedules = [{"cron": c["cron"], "created_on": NOW, "modified_on": NOW}
                           for c in json.loads(body)]  # fmt: skip
            return self.ok({"schedules": s.schedules})
        if sub == "/schedules":
            return self.ok({"schedules": s.schedules})
        if sub == "/subdomain" and method == "POST":
            s.subdomain_enabled = bool(json.loads(body)["enabled"])
            return self.ok({"enabled": s.subdomain_enabled, "previews_enabled": False})
        if sub == "/subdomain":
            return self.ok({"enabled": s.subdomain_enabled, "previews_enabled": False})
        if sub == "/deployments":
            return self.ok({"deployments": []})
        return self.err(404, 7000, "No route for that URI")
