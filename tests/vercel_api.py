"""A loopback fake of the Vercel REST API (the calls ``nwc-signer deploy vercel`` makes),
with state, plus the Blob API of the stores it creates.

It keeps what it is given: projects with their environment variables (sensitive values kept
but never answered, as Vercel does), files by the SHA1 they were uploaded under (the digest
and the length are checked against the bytes), deployments with every file resolved to its
bytes and the environment they were created with, Blob stores and their project connections
(connecting sets BLOB_READ_WRITE_TOKEN in the project, as the integration does). Request
bodies are checked against the request models of deploy/vercel/schema.py (a body the real
API would not get is a 400 here); answers are built to the answer models, and tests validate
each logged answer against them. Every request is logged with its Authorization header
replaced by a marker. ``fail`` makes a chosen call fail:
``{"POST /v13/deployments": (500, "boom")}``.

Deployments move QUEUED -> BUILDING -> READY one step per poll; a deployment without
``api/webhook.py`` and ``requirements.txt``, or with ``build_failure`` set, ends in ERROR.
Aliases are ``<name>.vercel.app`` and ``<name>-<user>.vercel.app``.

The Blob API of every store is one ``BlobApiFake`` (nwc_signer/dev/vercel_blob_api.py, the
fake whose traffic the real ``@vercel/blob`` SDK validated): one token and one pathname space
behind all stores, enough for a deploy that writes one wallet's pathnames.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ValidationError

from deploy.vercel import schema
from nwc_signer.dev.vercel_blob_api import BlobApiFake

AUTH_MARK = "Bearer <redacted>"
NOW = 1_795_000_000_000


@dataclass
class EnvVar:
    id: str
    key: str
    value: str
    type: str
    target: list[str]

    def answer(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "key": self.key,
            "type": self.type,
            "target": self.target,
            "createdAt": NOW,
        }
        if self.type == "plain":
            out["value"] = self.value
        elif self.type in ("encrypted", "system"):
            out["value"] = "eyJ2IjoiZW5jcnlwdGVkIn0"  # what a list answers: never the value
        return out


@dataclass
class Deployment:
    id: str
    project: str
    files: dict[str, bytes]
    env: dict[str, str]  # the project's variables when it was created
    target: str | None
    meta: dict[str, str]
    state: str = "QUEUED"
    error: tuple[str, str] | None = None
    polls: int = 0

    def answer(self, user: str) -> dict[str, Any]:
        ready = self.state == "READY"
        out: dict[str, Any] = {
            "id": self.id,
            "url": f"{self.project}-{self.id[4:13].lower()}-{user}.vercel.app",
            "name": self.project,
            "readyState": self.state,
            "aliasAssigned": ready,
            "alias": [f"{self.project}.vercel.app", f"{self.project}-{user}.vercel.app"]
            if ready and self.target == "production"
            else [],
            "createdAt": NOW,
            "meta": self.meta,
        }
        if self.error:
            out["errorCode"], out["errorMessage"] = self.error
        return out


@dataclass
class Project:
    id: str
    name: str
    framework: str | None = None
    env: list[EnvVar] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    root_directory: str | None = None  # what the Deploy Button's root-directory sets

    def answer(self, account: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "accountId": account,
            "framework": self.framework,
            "rootDirectory": self.root_directory,
            "createdAt": NOW,
            "updatedAt": NOW,
        }

    def env_value(self, key: str) -> str | None:
        return next((e.value for e in self.env if e.key == key), None)


@dataclass
class Store:
    id: str
    name: str
    access: str
    region: str
    project_id: str | None
    connections: list[dict[str, Any]] = field(default_factory=list)

    def answer(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": "blob",
            "access": self.access,
            "region": self.region,
            "status": "available",
            "size": 0,
            "count": 0,
            "createdAt": NOW,
            "updatedAt": NOW,
        }


class FakeVercel:
    """State plus a ThreadingHTTPServer on 127.0.0.1 (``base_url``), and the Blob fake."""

    def __init__(self, token: str = "vercel_test", user: str = "alice") -> None:
        self.token, self.user = token, user
        self.account = "user_" + hashlib.sha256(user.encode()).hexdigest()[:20]
        self.projects: dict[str, Project] = {}
        self.files: dict[str, bytes] = {}
        self.stores: dict[str, Store] = {}
        self.log: list[dict[str, Any]] = []
        self.fail: dict[str, tuple[int, str]] = {}  # "METHOD path-regex" -> (status, message)
        self.build_failure: tuple[str, str] | None = None  # next builds end in ERROR
        self.revoked: list[str] = []  # tokens that deleted themselves (DELETE .../current)
        self.lose_files: set[str] = (
            set()
        )  # SHA1s "forgotten" once: the next deploy gets them missing
        self.blob = BlobApiFake("fakestore1")
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def blob_urls(self) -> tuple[str, str]:
        """(VERCEL_BLOB_API_URL, NWC_SIGNER_BLOB_STORE_URL) of the stores' Blob API."""
        return self.blob.api_url, self.blob.url

    def __enter__(self) -> FakeVercel:
        self.blob.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.blob.close()

    # --- the API ----------------------------------------------------------------------

    def _project(self, ref: str) -> Project | None:
        return self.projects.get(ref) or next(
            (p for p in self.projects.values() if p.id == ref), None
        )

    def _deployment(self, ref: str) -> Deployment | None:
        return next((d for p in self.projects.values() for d in p.deployments if d.id == ref), None)

    @staticmethod
    def _body(model: type[BaseModel], raw: bytes) -> Any:
        data = json.loads(raw or b"null")
        model.model_validate(data)  # raises ValidationError -> 400
        return data

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        raw: bytes,
        headers: dict[str, str],
    ) -> tuple[int, Any]:
        if path == "/v3/user/tokens/current" and method == "DELETE":
            self.revoked.append(self.token)
            self.token = "revoked-" + uuid.uuid4().hex[:8]  # noqa: S105
            return 200, {"tokenId": "tok_" + uuid.uuid4().hex[:12]}
        if path == "/v2/user" and method == "GET":
            return 200, {
                "user": {
                    "id": self.account,
                    "username": self.user,
                    "email": f"{self.user}@example.com",
                }
            }
        if m := re.fullmatch(r"/v9/projects/([^/]+)", path):
            found = self._project(m.group(1))
            if found is None:
                return 404, {"error": {"code": "not_found", "message": "Project not found"}}
            return 200, found.answer(self.account)
        if path == "/v11/projects" and method == "POST":
            body = self._body(schema.CreateProject, raw)
            if body["name"] in self.projects:
                return 409, {
                    "error": {
                        "code": "conflict",
                        "message": "A project with this name already exists",
                    }
                }
            made = Project("prj_" + uuid.uuid4().hex[:24], body["name"], body.get("framework"))
            self.projects[made.name] = made
            return 200, made.answer(self.account)
        if m := re.fullmatch(r"/v10/projects/([^/]+)/env", path):
            found = self._project(m.group(1))
            if found is None:
                return 404, {"error": {"code": "not_found", "message": "Project not found"}}
            if method == "GET":
                return 200, {"envs": [e.answer() for e in found.env]}
            if method == "POST":
                return self._env(
                    found, self._body(schema.EnvBody, raw), query.get("upsert") == ["true"]
                )
        if path == "/v2/files" and method == "POST":
            return self._file(raw, headers)
        if path == "/v13/deployments" and method == "POST":
            return self._deploy(self._body(schema.CreateDeployment, raw))
        if (m := re.fullmatch(r"/v13/deployments/([^/]+)", path)) and method == "GET":
            dep = self._deployment(m.group(1))
            if dep is None:
                return 404, {"error": {"code": "not_found", "message": "Deployment not found"}}
            dep.polls += 1
            if dep.state == "QUEUED":
                dep.state = "BUILDING"
            elif dep.state == "BUILDING":
                self._build(dep)
            return 200, dep.answer(self.user)
        if path == "/v1/storage/stores" and method == "GET":
            return 200, {"stores": [s.answer() for s in self.stores.values()]}
        if path == "/v1/storage/stores/blob" and method == "POST":
            body = self._body(schema.CreateBlobStore, raw)
            store = Store(
                f"store_{self.blob.store_id}{len(self.stores) or ''}",
                body["name"],
                body["access"],
                body.get("region") or "iad1",
                body.get("projectId"),
            )
            self.stores[store.id] = store
            return 200, {"store": store.answer()}
        if m := re.fullmatch(r"/v1/storage/stores/([^/]+)/(connections|secrets)", path):
            found_store = self.stores.get(m.group(1))
            if found_store is None:
                return 404, {"error": {"code": "not_found", "message": "Store not found"}}
            if m.group(2) == "secrets" and method == "GET":
                return 200, {"rwToken": self.blob.token}
            if method == "GET":
                return 200, {"connections": found_store.connections}
            if method == "POST":
                return self._connect(found_store, self._body(schema.CreateConnection, raw))
        return 404, {"error": {"code": "not_found", "message": "The requested route was not found"}}

    def _env(self, project: Project, items: list[dict[str, Any]], upsert: bool) -> tuple[int, Any]:
        created, failed = [], []
        for item in items:
            found = next((e for e in project.env if e.key == item["key"]), None)
            if found is not None and not upsert:
                failed.append(
                    {
                        "error": {
                            "code": "ENV_ALREADY_EXISTS",
                            "key": item["key"],
                            "message": "The environment variable already exists",
                        }
                    }
                )
                continue
            if found is None:
                found = EnvVar("env_" + uuid.uuid4().hex[:16], item["key"], "", "", [])
                project.env.append(found)
            found.value, found.type, found.target = item["value"], item["type"], item["target"]
            created.append(found.answer())
        return 201, {"created": created, "failed": failed}

    def _file(self, raw: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        digest = headers.get("x-vercel-digest", "")
        if not re.fullmatch(r"[0-9a-f]{40}", digest):
            return 400, {"error": {"code": "missing_digest", "message": "Missing digest header"}}
        if int(headers.get("content-length") or -1) != len(raw):
            return 400, {"error": {"code": "invalid_size", "message": "Content-Length mismatch"}}
        if hashlib.sha1(raw).hexdigest() != digest:  # noqa: S324
            return 400, {"error": {"code": "sha_mismatch", "message": "SHA1 does not match"}}
        if digest in self.files:
            return 200, {"urls": [f"https://files.example/{digest}"]}
        self.files[digest] = raw
        return 200, {}

    def _deploy(self, body: dict[str, Any]) -> tuple[int, Any]:
        project = self._project(body.get("project") or body["name"])
        if project is None:
            return 404, {"error": {"code": "not_found", "message": "Project not found"}}
        for sha in list(self.lose_files):
            self.files.pop(sha, None)
            self.lose_files.discard(sha)
        missing = sorted({f["sha"] for f in body["files"] if f["sha"] not in self.files})
        if missing:
            return 400, {
                "error": {"code": "missing_files", "message": "Missing files", "missing": missing}
            }
        for f in body["files"]:
            if len(self.files[f["sha"]]) != f["size"]:
                return 400, {"error": {"code": "invalid_size", "message": f"size of {f['file']}"}}
        dep = Deployment(
            "dpl_" + uuid.uuid4().hex[:28].upper(),
            project.name,
            {f["file"]: self.files[f["sha"]] for f in body["files"]},
            {e.key: e.value for e in project.env if "production" in e.target},
            body.get("target"),
            body.get("meta") or {},
        )
        project.deployments.append(dep)
        return 200, dep.answer(self.user)

    def _build(self, dep: Deployment) -> None:
        project = self._project(dep.project)
        root = (project.root_directory or "").strip("/") if project else ""
        if root:  # Vercel builds a project with a Root Directory from that folder
            cut = len(root) + 1
            inside = {k[cut:]: v for k, v in dep.files.items() if k.startswith(root + "/")}
            if not inside:
                msg = f'The specified Root Directory "{root}" does not exist.'
                dep.state, dep.error = "ERROR", ("ROOT_DIRECTORY_NOT_FOUND", msg)
                return
            dep.files = inside
        if self.build_failure is not None:
            dep.state, dep.error = "ERROR", self.build_failure
        elif not {"api/webhook.py", "requirements.txt"} <= set(dep.files):
            dep.state, dep.error = "ERROR", ("NO_ENTRYPOINT", "No Python entrypoint found")
        else:
            dep.state = "READY"

    def _connect(self, store: Store, body: dict[str, Any]) -> tuple[int, Any]:
        project = self._project(body["projectId"])
        if project is None:
            return 404, {"error": {"code": "not_found", "message": "Project not found"}}
        if any(c["projectId"] == project.id for c in store.connections):
            return 409, {"error": {"code": "conflict", "message": "Already connected"}}
        conn = {
            "id": "spc_" + uuid.uuid4().hex[:16],
            "projectId": project.id,
            "envVarEnvironments": body["envVarEnvironments"],
            "envVarPrefix": body.get("envVarPrefix"),
        }
        store.connections.append(conn)
        project.env.append(
            EnvVar(
                "env_" + uuid.uuid4().hex[:16],
                "BLOB_READ_WRITE_TOKEN",
                self.blob.token,
                "encrypted",
                list(body["envVarEnvironments"]),
            )
        )
        return 201, conn

    # --- HTTP -------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()  # headers and body go out as two writes: no Nagle delay
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self, method: str) -> None:
                url = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if "authorization" in headers:
                    good = headers["authorization"] == f"Bearer {fake.token}"
                    headers["authorization"] = AUTH_MARK if good else "<a wrong token>"
                query = parse_qs(url.query)
                entry: dict[str, Any] = {
                    "method": method,
                    "path": url.path,
                    "query": query,
                    "headers": headers,
                    "body": raw,
                }
                with fake._lock:
                    status, answer = self._answer(method, url.path, query, raw, headers)
                    entry["status"], entry["answer"] = status, answer
                    fake.log.append(entry)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _answer(
                self,
                method: str,
                path: str,
                query: dict[str, list[str]],
                raw: bytes,
                headers: dict[str, str],
            ) -> tuple[int, Any]:
                if headers.get("authorization") != AUTH_MARK:
                    return 403, {
                        "error": {
                            "code": "forbidden",
                            "invalidToken": True,
                            "message": "Not authorized",
                        }
                    }
                for pattern, (status, message) in fake.fail.items():
                    if re.fullmatch(pattern, f"{method} {path}"):
                        return status, {"error": {"code": "injected", "message": message}}
                try:
                    return fake.route(method, path, query, raw, headers)
                except (ValidationError, ValueError, KeyError, TypeError) as exc:
                    return 400, {
                        "error": {
                            "code": "bad_request",
                            "message": " ".join(str(exc).split())[:300],
                        }
                    }

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        return Handler
