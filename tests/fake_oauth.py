"""A loopback OAuth 2.0 provider in Cloudflare's place: authorization code with PKCE (S256
only), a consent page with Allow and Deny, a token endpoint that checks the client, the
redirect URI, the one-time code and the code verifier, and RFC 7009 revocation.

Each token it issues becomes the one the fake Cloudflare API accepts (``on_token``); a
revoked token stops working there (``on_revoke``). Everything it was asked is recorded.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    scope: str
    challenge: str
    used: bool = False


@dataclass
class FakeOAuth:
    client_id: str = "onboarding-test-client"
    redirect_uri: str = ""
    on_token: Callable[[str], None] = lambda token: None
    on_revoke: Callable[[str], None] = lambda token: None
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    token_errors: list[str] = field(default_factory=list)
    grants: dict[str, Grant] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeOAuth:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- the endpoints ------------------------------------------------------------------

    def authorize(self, q: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        self.authorize_requests.append(q)
        if q.get("client_id") != self.client_id or q.get("redirect_uri") != self.redirect_uri:
            return 400, "<h1>unknown client or redirect URI</h1>", {}
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256":
            return 400, "<h1>authorization code with PKCE S256 only</h1>", {}
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in q.items()
        )
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in q.get("scope", "").split())
        page = (
            "<!doctype html><title>Authorise</title><h1>Fake Cloudflare: authorise "
            f"{html.escape(q['client_id'])}?</h1><ul id='scopes'>{scopes}</ul>"
            f"<form method='post' action='/oauth2/decide'>{hidden}"
            "<button name='decision' value='allow' id='allow'>Allow</button>"
            "<button name='decision' value='deny' id='deny'>Deny</button></form>"
        )
        return 200, page, {"content-type": "text/html; charset=utf-8"}

    def decide(self, form: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        back = {"state": form.get("state", "")}
        if form.get("decision") != "allow":
            back["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(24)
            with self._lock:
                self.grants[code] = Grant(
                    form["client_id"],
                    form["redirect_uri"],
                    form.get("scope", ""),
                    form["code_challenge"],
                )
            back["code"] = code
        return 302, "", {"location": f"{form['redirect_uri']}?{urlencode(back)}"}

    def token(self, form: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        def refuse(error: str) -> tuple[int, str, dict[str, str]]:
            self.token_errors.append(error)
            return 400, json.dumps({"error": error}), {"content-type": "application/json"}

        with self._lock:
            grant = self.grants.get(form.get("code", ""))
            if grant is None or grant.used:
                return refuse("invalid_grant")
            grant.used = True
        if form.get("grant_type") != "authorization_code" or (
            form.get("client_id") != grant.client_id
            or form.get("redirect_uri") != grant.redirect_uri
        ):
            return refuse("invalid_request")
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
            return refuse("invalid_grant")
        token = "cf-oauth-" + secrets.token_urlsafe(24)
        self.issued.append(token)
        self.on_token(token)
        body = {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": 3599,
            "scope": grant.scope,
        }
        return 200, json.dumps(body), {"content-type": "application/json"}

    def revoke(self, form: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        token = form.get("token", "")
        self.revoked.append(token)
        self.on_revoke(token)
        return 200, "", {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, answer: tuple[int, str, dict[str, str]]) -> None:
                status, body, headers = answer
                raw = body.encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/oauth2/auth":
                    return self._reply(fake.authorize(q))
                return self._reply((404, "not found", {}))

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                routes = {
                    "/oauth2/decide": fake.decide,
                    "/oauth2/token": fake.token,
                    "/oauth2/revoke": fake.revoke,
                }
                route = routes.get(urlsplit(self.path).path)
                return self._reply(route(form) if route else (404, "not found", {}))

        return Handler
