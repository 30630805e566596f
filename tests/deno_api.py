"""A loopback fake of the Deno Deploy v2 REST API (the calls ``nwc-signer deploy deno``
makes), with state, plus the deployed app's seeding route.

It keeps what it is given: apps with their config and environment variables (secret values
kept but never answered), revisions with every asset decoded to bytes, and per app a Deno KV
database that a test "assigns" (the console's job: the v2 API has none). Request bodies are
checked against the request models of deploy/deno/schema.py (a body the real API would not
get is a 400 here); answers are built to the answer models, and tests validate each logged
answer against them. Every request is logged with its Authorization header replaced by a
marker. ``fail`` makes a chosen call fail: ``{"POST /v2/apps/[^/]+/deploy": (500, "boom")}``.

The app itself is served under ``/app/<slug>``: ``POST /app/<slug>/_nwc/seed`` answers as
signer_core/protocol/seed.py specifies, with the ROOT_SECRET and WALLET_ID of the app's environment,
once a revision with an ``entry.py`` succeeded.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ValidationError

from deploy.deno import schema
from signer_core.protocol import seed

NOW = "2026-11-30T00:00:00.000Z"
PREFIX = "/v2"
AUTH_MARK = "Bearer <redacted>"


@dataclass
class EnvVar:
    id: str
    key: str
    value: str
    secret: bool
    contexts: Any = "all"

    def answer(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "key": self.key, "secret": self.secret,
                               "contexts": self.contexts}  # fmt: skip
        if not self.secret:
            out["value"] = self.value
        return out


@dataclass
class Revision:
    id: str
    app: str
    files: dict[str, bytes]
    config: dict[str, Any] | None
    status: str = "queued"
    failure_reason: str | None = None
    polls: int = 0

    def answer(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "failure_reason": self.failure_reason,
                "created_at": NOW, "cancellation_requested_at": None,
                "build_finished_at": NOW if self.status in schema.TERMINAL else None,
                "deleted_at": None}  # fmt: skip


@dataclass
class App:
    id: str
    slug: str
    config: dict[str, Any] | None = None
    env: list[EnvVar] = field(default_factory=list)
    revisions: list[Revision] = field(default_factory=list)
    kv: dict[str, Any] | None = None  # None: no KV database assigned

    def answer(self) -> dict[str, Any]:
        return {"id": self.id, "slug": self.slug, "layers": [],
                "env_vars": [e.answer() for e in self.env], "config": self.config or {},
                "created_at": NOW, "updated_at": NOW}  # fmt: skip

    def env_value(self, key: str) -> str | None:
        return next((e.value for e in self.env if e.key == key), None)

    def live(self) -> Revision | None:
        done = [r for r in self.revisions if r.status == "succeeded"]
        return done[-1] if done else None


class FakeDeno:
    """State plus a ThreadingHTTPServer on 127.0.0.1; ``base_url`` ends in /v2."""

    def __init__(self, token: str = "ddo_test", org: str = "alice") -> None:
        self.token, self.org = token, org
        self.apps: dict[str, App] = {}
        self.log: list[dict[str, Any]] = []
        self.fail: dict[str, tuple[int, str]] = {}  # "METHOD path-regex" -> (status, message)
        self.build_failure: str | None = None  # next builds fail with this reason
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return self.origin + PREFIX

    def app_url(self, slug: str) -> str:
        return f"{self.origin}/app/{slug}"

    def assign_kv(self, slug: str) -> None:
        """What "Assign" in the console does: the app gets an (empty) Deno KV database."""
        self.apps[slug].kv = {}

    def __enter__(self) -> FakeDeno:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- the API ----------------------------------------------------------------------

    def _find(self, ref: str) -> App | None:
        return self.apps.get(ref) or next((a for a in self.apps.values() if a.id == ref), None)

    def _revision(self, rid: str) -> Revision | None:
        return next((r for a in self.apps.values() for r in a.revisions if r.id == rid), None)

    def _body(self, model: type[BaseModel], raw: bytes) -> dict[str, Any]:
        data = json.loads(raw or b"null")
        model.model_validate(data)  # raises ValidationError → 400
        return dict(data)

    def route(self, method: str, path: str, query: dict[str, list[str]], raw: bytes,
              headers: dict[str, str]) -> tuple[int, Any]:  # fmt: skip
        if m := re.fullmatch(r"/app/([^/]+)" + re.escape(seed.PATH), path):
            if method != "POST":
                return 405, {"error": "method not allowed"}
            return self._seed(m.group(1), raw, headers.get(seed.HEADER.lower()))
        if not path.startswith(PREFIX + "/"):
            return 404, {"code": "notFound", "message": "no such route"}
        path = path[len(PREFIX) :]
        if path == "/apps" and method == "GET":
            limit = int(query.get("limit", ["30"])[0])
            items = [{k: v for k, v in a.answer().items() if k in ("id", "slug", "layers",
                      "created_at", "updated_at")} for a in self.apps.values()]  # fmt: skip
            return 200, items[:limit]
        if path == "/apps" and method == "POST":
            body = self._body(schema.CreateApp, raw)
            slug = body.get("slug") or f"app-{uuid.uuid4().hex[:8]}"
            if slug in self.apps:
                return 409, {"code": "appSlugInUse", "message": f"slug {slug} is in use"}
            app = App(str(uuid.uuid4()), slug, body.get("config"))
            for e in body.get("env_vars") or []:
                app.env.append(EnvVar(str(uuid.uuid4()), e["key"], e["value"],
                                      bool(e.get("secret")), e.get("contexts", "all")))  # fmt: skip
            self.apps[slug] = app
            return 200, app.answer()
        if m := re.fullmatch(r"/apps/([^/]+)", path):
            found = self._find(m.group(1))
            if found is None:
                return 404, {"code": "appNotFound", "message": "The app was not found."}
            if method == "GET":
                return 200, found.answer()
            if method == "PATCH":
                return self._patch(found, self._body(schema.UpdateApp, raw))
        if (m := re.fullmatch(r"/apps/([^/]+)/deploy", path)) and method == "POST":
            target = self._find(m.group(1))
            if target is None:
                return 404, {"code": "appNotFound", "message": "The app was not found."}
            body = self._body(schema.DeployRequest, raw)
            files = {name: (a["content"].encode() if a["encoding"] == "utf-8"
                            else base64.b64decode(a["content"]))
                     for name, a in body["assets"].items()}  # fmt: skip
            made = Revision(uuid.uuid4().hex[:12], target.slug, files, body.get("config"))
            target.revisions.append(made)
            return 202, made.answer()
        if m := re.fullmatch(r"/revisions/([^/]+)(/timelines)?", path):
            rev = self._revision(m.group(1))
            if rev is None or method != "GET":
                return 404, {"code": "revisionNotFound", "message": "The revision was not found."}
            if m.group(2):
                domain = {"domain": f"{rev.app}.{self.org}.deno.net"}
                app = self.apps[rev.app]
                return 200, [{"slug": "production", "partition": {},
                              "app": {"id": app.id, "slug": app.slug},
                              "context": {"slug": "production"}, "domains": [domain]}]  # fmt: skip
            rev.polls += 1  # queued → building → succeeded/failed, one step per poll
            if rev.status == "queued":
                rev.status = "building"
            elif rev.status == "building":
                if self.build_failure:
                    rev.status, rev.failure_reason = "failed", self.build_failure
                else:
                    rev.status = "succeeded"
            return 200, rev.answer()
        return 404, {"code": "notFound", "message": "no such route"}

    def _patch(self, app: App, body: dict[str, Any]) -> tuple[int, Any]:
        if "slug" in body:
            self.apps.pop(app.slug)
            app.slug = body["slug"]
            self.apps[app.slug] = app
        if "config" in body:
            app.config = body["config"]
        for u in body.get("env_vars") or []:
            found = next((e for e in app.env if (u.get("id") and e.id == u["id"]) or
                          (not u.get("id") and e.key == u.get("key"))), None)  # fmt: skip
            if u.get("id") and found is None:
                return 404, {"code": "envVarNotFound", "message": "no such variable"}
            if u.get("delete"):
                if found is not None:
                    app.env.remove(found)
                continue
            if found is None:
                found = EnvVar(str(uuid.uuid4()), u["key"], "", False)
                app.env.append(found)
            found.key = u.get("key", found.key)
            found.value = u.get("value", found.value)
            found.secret = u.get("secret", found.secret)
            found.contexts = u.get("contexts", found.contexts)
        return 200, app.answer()

    # --- the app's seeding route (signer_core/protocol/seed.py) --------------------------------

    def _seed(self, slug: str, raw: bytes, header: str | None = None) -> tuple[int, Any]:
        from signer_core.vault import sealed

        app = self.apps.get(slug)
        live = app.live() if app else None
        if app is None or live is None or "entry.py" not in live.files:
            return 404, {"error": "not found"}
        root_hex, wallet_id = app.env_value("ROOT_SECRET"), app.env_value("WALLET_ID")
        if not root_hex or not wallet_id:
            return 500, {"error": "not configured"}
        if not seed.verify(bytes.fromhex(root_hex), wallet_id, header, raw, int(time.time())):
            return 401, {"error": "unauthorized"}
        try:
            body = json.loads(raw)
            blob = base64.b64decode(body["blob"], validate=True)
            header_of = sealed.parse(blob)
        except Exception:
            return 400, {"error": "bad body"}
        if body.get("wallet_id") != wallet_id or header_of.wallet_id != wallet_id:
            return 400, {"error": "not this wallet"}
        if app.kv is None:
            return 503, {"error": "kv_unavailable"}
        current = app.kv.get("state")
        if current is not None:
            if sealed.parse(current).wallet_id != wallet_id:
                return 409, {"error": "another wallet"}
            return 200, {"state": "exists", "generation": sealed.parse(current).generation}
        app.kv["state"] = blob
        app.kv["guard"] = max(app.kv.get("guard", 0), header_of.generation)
        return 201, {"state": "written", "generation": header_of.generation}

    # --- HTTP -------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                url = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                entry: dict[str, Any] = {"method": method, "path": url.path, "query": url.query,
                                         "body": raw}  # fmt: skip
                api_call = url.path.startswith(PREFIX + "/")
                if "authorization" in headers:
                    good = headers["authorization"] == f"Bearer {fake.token}"
                    headers["authorization"] = AUTH_MARK if good else "<a wrong token>"
                entry["headers"] = headers
                with fake._lock:
                    status, answer = self._answer(method, url, raw, headers, api_call)
                    entry["status"], entry["answer"] = status, answer
                    fake.log.append(entry)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _answer(self, method: str, url: Any, raw: bytes, headers: dict[str, str],
                        api_call: bool) -> tuple[int, Any]:  # fmt: skip
                if api_call and headers.get("authorization") != AUTH_MARK:
                    return 401, {"code": "unauthorized",
                                 "message": "The access token is missing or invalid."}  # fmt: skip
                for pattern, (status, message) in fake.fail.items():
                    if re.fullmatch(pattern, f"{method} {url.path}"):
                        return status, {"code": "injected", "message": message}
                try:
                    return fake.route(method, url.path, parse_qs(url.query), raw, headers)
                except (ValidationError, ValueError, KeyError) as exc:
                    return 400, {"code": "invalidBody",
                                 "message": " ".join(str(exc).split())[:300]}  # fmt: skip

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

        return Handler
