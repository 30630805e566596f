"""The onboarding service's pages (FastAPI, server-side Jinja2 templates, a little JS).

A deploy is reached at ``/deploy/<id>`` and only from the browser that started it: the
``nwc_job`` cookie (HttpOnly, SameSite=Lax) must name the same job, so a job address seen in
an access log opens nothing. The recovery phrase is shown until it is confirmed, then
forgotten; the connection URI is shown until the user presses "Done" (or the job expires).
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from onboarding import jobs, platforms
from onboarding.oauth import CloudflareOAuth, OAuthError
from onboarding.settings import CF_SCOPES, Settings

HERE = Path(__file__).resolve().parent
COOKIE = "nwc_job"
NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$")
NAME_RULE = "3 to 40 characters: lower-case letters, digits and dashes, not at either end"


def qr_svg(text: str) -> Markup:
    import segno

    svg = segno.make(text, error="L").svg_inline(scale=5, border=2, dark="#111", light="#fff")
    return Markup(svg)  # noqa: S704 (segno's own SVG of our own text)


def deep_link(uri: str) -> str:
    """``nostrnwc://`` + the URI after its scheme: the scheme NWC apps register where a
    ``+`` in a scheme is not allowed (Alby Go); same content as the URI."""
    return "nostrnwc://" + uri.split("://", 1)[1]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    store = jobs.JobStore(settings.work_dir)
    bundles = platforms.Bundles(settings.work_dir)
    oauth = CloudflareOAuth(settings)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app = FastAPI(title="nwc-signer onboarding", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store, app.state.settings, app.state.bundles = store, settings, bundles
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    home = HERE / "static" / "home"
    if home.is_dir():
        app.mount("/home", StaticFiles(directory=str(home), html=True), name="home")

    def page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("settings", settings)
        return templates.TemplateResponse(request, name, ctx, status_code=status)

    def message(request: Request, title: str, text: str, status: int = 400) -> HTMLResponse:
        return page(request, "message.html", status, title=title, text=text)

    def own_job(request: Request, job_id: str) -> jobs.Job | None:
        store.expire(settings.job_ttl_s)
        job = store.get(job_id)
        if job is None or request.cookies.get(COOKIE) != job_id:
            return None
        return job

    def missing(request: Request, job_id: str) -> HTMLResponse:
        record = store.record(job_id) if request.cookies.get(COOKIE) == job_id else None
        if record and record.get("status") == "interrupted":
            made = record.get("wallet_made")
            text = ("The service restarted while your deploy was running and, by design, forgot "
                    "the wallet it was making: it keeps no secret on disk. "
                    + ("Your account holds a sealed wallet nobody can open (no funds were ever "
                       "in it): start again with another name, and delete the old Worker or "
                       "app when convenient." if made else
                       "Nothing of a wallet reached your account: start again."))  # fmt: skip
            return message(request, "Your deploy was interrupted", text, 410)
        if record and record.get("status") in ("finished", "expired"):
            return message(request, "This deploy is closed",
                           "Its secrets are forgotten. Start a new deploy from the first page.",
                           410)  # fmt: skip
        return message(request, "Deploy not found",
                       "This deploy is unknown to this browser. Start one from the first page.",
                       404)  # fmt: skip

    def to(url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)

    def with_cookie(response: Response, job: jobs.Job) -> Response:
        secure = settings.public_url.startswith("https://")
        response.set_cookie(COOKIE, job.id, httponly=True, samesite="lax", secure=secure,
                            max_age=settings.job_ttl_s * 4, path="/")  # fmt: skip
        return response

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    def landing(request: Request) -> HTMLResponse:
        return page(request, "landing.html", cf_ready=oauth.configured)

    @app.get("/cloudflare", response_class=HTMLResponse)
    def cloudflare(request: Request, error: str = "") -> HTMLResponse:
        return page(request, "cloudflare.html", scopes=CF_SCOPES, error=error,
                    configured=oauth.configured, name_rule=NAME_RULE)  # fmt: skip

    @app.post("/cloudflare/authorize")
    def cloudflare_authorize(request: Request, name: str = Form("nwc-signer")) -> Response:
        if not oauth.configured:
            return message(request, "Cloudflare is not set up here",
                           "This service's operator has not registered a Cloudflare OAuth "
                           "client (NWC_ONBOARDING_CF_CLIENT_ID). Use the command line or "
                           "another platform.", 503)  # fmt: skip
        current = request.cookies.get(COOKIE)
        job = store.get(current) if current else None
        if job is None or job.platform != "cloudflare" or job.status in ("done", "finished"):
            name = name.strip().lower()
            if not NAME.match(name):
                return page(request, "cloudflare.html", 400, scopes=CF_SCOPES,
                            configured=True, name_rule=NAME_RULE,
                            error=f"The name must be {NAME_RULE}.")  # fmt: skip
            job = platforms.cloudflare_job(store, settings, bundles, name)
            job.context["revoke"] = oauth.revoke
        return with_cookie(to(oauth.start(job.id)), job)

    @app.get("/cloudflare/callback")
    def cloudflare_callback(
        request: Request, state: str = "", code: str = "", error: str = ""
    ) -> Response:
        try:
            job_id, token = oauth.finish(state, code or None, error or None)
        except OAuthError as exc:
            current = request.cookies.get(COOKIE)
            job = store.get(current) if current else None
            if job is not None and job.status not in ("pending",):
                job.error, job.action, job.status = str(exc), "authorise", jobs.FAILED
                store.save(job)
                return to(f"/deploy/{job.id}")
            return to("/cloudflare?" + urllib.parse.urlencode({"error": str(exc)}))
        job = store.get(job_id)
        if job is None:
            return message(request, "Deploy not found", "Start again from the first page.", 404)
        job.secrets.token = token
        jobs.resume(store, job)
        return with_cookie(to(f"/deploy/{job.id}"), job)

    @app.get("/deno", response_class=HTMLResponse)
    def deno(request: Request) -> HTMLResponse:
        return page(request, "deno.html", error="", name_rule=NAME_RULE)

    @app.post("/deno")
    def deno_start(
        request: Request, token: str = Form(""), name: str = Form("nwc-signer")
    ) -> Response:
        name = name.strip().lower()
        token = token.strip()
        error = ""
        if not token:
            error = "Paste your organization access token (it starts with ddo_)."
        elif not NAME.match(name):
            error = f"The name must be {NAME_RULE}."
        if error:
            return page(request, "deno.html", 400, error=error, name_rule=NAME_RULE)
        job = platforms.deno_job(store, settings, bundles, name, token)
        jobs.resume(store, job)
        return with_cookie(to(f"/deploy/{job.id}"), job)

    @app.get("/vercel", response_class=HTMLResponse)
    def vercel(request: Request) -> HTMLResponse:
        return page(request, "vercel.html", error="", name_rule=NAME_RULE)

    @app.post("/vercel")
    def vercel_start(
        request: Request, token: str = Form(""), name: str = Form("nwc-signer")
    ) -> Response:
        from onboarding.vercel import vercel_job

        name, token = name.strip().lower(), token.strip()
        error = ""
        if not token:
            error = "Paste a Vercel access token (vercel.com/account/tokens)."
        elif not NAME.match(name):
            error = f"The name must be {NAME_RULE}."
        if error:
            return page(request, "vercel.html", 400, error=error, name_rule=NAME_RULE)
        job = vercel_job(store, settings, bundles, name, token)
        jobs.resume(store, job)
        return with_cookie(to(f"/deploy/{job.id}"), job)

    @app.get("/aws", response_class=HTMLResponse)
    def aws(request: Request, region: str = "") -> HTMLResponse:
        from deploy.aws.stack import quick_create_link

        region = region if re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region) else settings.aws_region
        pubkey = settings.watcher_pubkey
        if not pubkey:
            try:
                pubkey = platforms.watcher_pubkey(settings)
            except jobs.StepError:
                pubkey = ""
        params = {"WatcherPubkey": pubkey, "WatcherUrl": settings.watcher_url,
                  "Relays": ",".join(settings.relays), "Backend": "cashu",
                  "MintUrl": settings.mint_url}  # fmt: skip
        link = quick_create_link(region, params)
        return page(request, "aws.html", link=link, region=region, pubkey=pubkey)

    @app.get("/deploy/{job_id}", response_class=HTMLResponse)
    def progress(request: Request, job_id: str) -> Response:
        job = own_job(request, job_id)
        if job is None:
            return missing(request, job_id)
        if job.status == jobs.DONE:
            return to(f"/deploy/{job.id}/phrase" if not job.phrase_confirmed
                      else f"/deploy/{job.id}/connect")  # fmt: skip
        return page(request, "progress.html", job=job.view(), name_rule=NAME_RULE)

    @app.get("/deploy/{job_id}/status")
    def status(request: Request, job_id: str) -> Response:
        job = own_job(request, job_id)
        if job is None:
            return JSONResponse({"status": "unknown"}, status_code=404)
        return JSONResponse(job.view())

    @app.post("/deploy/{job_id}/retry")
    def retry(request: Request, job_id: str) -> Response:
        job = own_job(request, job_id)
        if job is None:
            return missing(request, job_id)
        if job.action == "authorise":
            return to(oauth.start(job.id))
        jobs.resume(store, job)
        return to(f"/deploy/{job.id}")

    @app.post("/deploy/{job_id}/rename")
    def rename(request: Request, job_id: str, name: str = Form("")) -> Response:
        job = own_job(request, job_id)
        if job is None:
            return missing(request, job_id)
        name = name.strip().lower()
        if not NAME.match(name) or job.action != "rename":
            job.error = f"The name must be {NAME_RULE}, and differ from {job.name}."
            return page(request, "progress.html", 400, job=job.view(), name_rule=NAME_RULE)
        if job.platform == "vercel":  # its project and Blob store (onboarding/vercel.py)
            from onboarding import vercel

            vercel.rename(job, name)
        else:
            platforms.rename(job, name)
        jobs.resume(store, job)
        return to(f"/deploy/{job.id}")

    @app.post("/deploy/{job_id}/token")
    def new_token(request: Request, job_id: str, token: str = Form("")) -> Response:
        job = own_job(request, job_id)
        if job is None or job.platform not in ("deno", "vercel"):
            return missing(request, job_id)
        if token.strip():
            if job.platform == "vercel":
                from onboarding.vercel import new_token

                new_token(job, token.strip())
            else:
                platforms.new_deno_token(job, settings, token.strip())
            jobs.resume(store, job)
        return to(f"/deploy/{job.id}")

    @app.get("/deploy/{job_id}/phrase", response_class=HTMLResponse)
    def phrase(request: Request, job_id: str, wrong: str = "") -> Response:
        job = own_job(request, job_id)
        if job is None:
            return missing(request, job_id)
        if job.status != jobs.DONE:
            return to(f"/deploy/{job.id}")
        if job.phrase_confirmed or job.secrets.mnemonic is None:
            return to(f"/deploy/{job.id}/connect")
        words = job.secrets.mnemonic.split()
        return page(request, "phrase.html", job=job.view(), words=words,
                    ask=job.confirm_words, wrong=bool(wrong))  # fmt: skip

    @app.post("/deploy/{job_id}/phrase")
    def confirm(
        request: Request, job_id: str, word_a: str = Form(""), word_b: str = Form("")
    ) -> Response:
        job = own_job(request, job_id)
        if job is None:
            return missing(request, job_id)
        mnemonic = job.secrets.mnemonic
        if mnemonic is None:
            return to(f"/deploy/{job.id}/connect")
        words = mnemonic.split()
        a, b = job.confirm_words
        if [word_a.strip().lower(), word_b.strip().lower()] != [words[a - 1], words[b - 1]]:
            return to(f"/deploy/{job.id}/phrase?wrong=1")
        job.phrase_confirmed = True
        job.secrets.mnemonic = None  # shown once: forgotten now
        store.save(job)
        return to(f"/deploy/{job.id}/connect")

    @app.get("/deploy/{job_id}/connect", response_class=HTMLResponse)
    def connect(request: Request, job_id: str) -> Response:
        job = own_job(request, job_id)
        if job is None:
            return missing(request, job_id)
        if job.status != jobs.DONE or not job.phrase_confirmed:
            return to(f"/deploy/{job.id}")
        uri = job.secrets.uri
        if uri is None:
            return message(request, "Connection already handed over",
                           "This page showed your first connection once; it is forgotten now. "
                           "Add connections from your wallet's home page.", 410)  # fmt: skip
        admin = job.secrets.admin_uri
        # the admin connection travels in the fragment: the browser never sends it back here
        home = "/home/#connect=" + quote(admin, safe="") if admin else "/home/"
        return page(request, "connect.html", job=job.view(), uri=uri, qr=qr_svg(uri),
                    deep=deep_link(uri), home=home)  # fmt: skip

    @app.post("/deploy/{job_id}/finish")
    def finish(request: Request, job_id: str) -> Response:
        job = own_job(request, job_id)
        if job is None:
            return missing(request, job_id)
        if job.status != jobs.DONE:
            return to(f"/deploy/{job.id}")
        view = job.view()
        store.forget(job, "finished")
        response = page(request, "finished.html", job=view)
        response.delete_cookie(COOKIE, path="/")
        return response

    return app


def main(argv: list[str] | None = None) -> int:
    """``python -m onboarding [--host H] [--port P]``: the service with its defaults."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m onboarding", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8800, help="port (default: %(default)s)")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info")
    return 0
