"""`nwc-signer connection approve`: an app's connection request (nostr+walletauth:// or an
NWC-07 nostrnwc:// deep link, parsed by signer_core/protocol/walletauth.py) made into a
connection, on a local wallet folder or on a deployed wallet through its admin connection.

Both targets run create_connection's own checks (signer_core/methods/create_connection.py):
locally the method's handler runs on the opened state; remotely it is the NWC request the
home page sends. For walletauth the app holds the key and waits on its relays for the new
connection's 13194 info event tagged with its pubkey: the watcher publishes it with the
create_connection answer; for a local folder it is published here. For NWC-07 the key pair
is made here and the `nostr+walletconnect://` URI goes back through the app's callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets as _secrets
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from signer_core.protocol import walletauth
from signer_core.protocol.walletauth import ConnectionRequest, norm_relay, return_url

REPLY_TIMEOUT_S = 60.0


class ApproveError(Exception):
    """The connection was not made (or not confirmed); one line for the user."""


@dataclass(frozen=True)
class Approved:
    """What approving made. `uri` (NWC-07 only) carries the new client secret: hand it to
    the app once, it is not kept."""

    request: ConnectionRequest
    connection_id: str
    wallet_pubkey: str
    relays: list[str]
    uri: str | None = field(default=None, repr=False)
    return_url: str | None = field(default=None, repr=False)
    published_on: list[str] = field(default_factory=list)


def shared_relays(req: ConnectionRequest, wallet_relays: list[str]) -> list[str]:
    """The relays a connection for `req` is served on: for walletauth the app's relays the
    wallet also listens on (the app sends its requests there); refused if there are none."""
    if req.kind != "walletauth":
        return list(wallet_relays)
    common = walletauth.shared_relays(req.relays, wallet_relays)
    if not common:
        raise ApproveError(f"the app listens on {', '.join(req.relays)} but this wallet is "
                           f"served on {', '.join(wallet_relays)}; nothing was created (ask "
                           "the app for a request with one of the wallet's relays)")  # fmt: skip
    return common


def default_grants(served: list[str], notifications: list[str]) -> tuple[list[str], list[str]]:
    """What an NWC-07 app (which names no methods) is granted: every method the wallet
    serves and can grant, every notification it sends."""
    from signer_core.methods import GRANTABLE_METHODS

    return [m for m in GRANTABLE_METHODS if m in served], sorted(notifications)


def _params(req: ConnectionRequest, pubkey: str, grants: tuple[list[str], list[str]],
            budget: tuple[int, str] | None) -> dict[str, Any]:  # fmt: skip
    params = req.create_params(pubkey)
    if req.methods is None:  # NWC-07: the wallet decides, with the user's budget if given
        params["request_methods"], params["notification_types"] = grants
    if budget is not None:
        params["max_amount"], params["budget_renewal"] = budget
    return params


def _new_client() -> tuple[bytes, str]:
    from signer_core.crypto.secp import generate_private_key, xonly_pubkey

    secret = generate_private_key()
    return secret, xonly_pubkey(secret).hex()


def _finish(req: ConnectionRequest, connection_id: str, wallet_pubkey: str, relays: list[str],
            secret: bytes | None, lud16: str | None) -> Approved:  # fmt: skip
    from signer_core.protocol.uri import ConnectionUri

    uri = str(ConnectionUri(wallet_pubkey, relays, secret.hex(), lud16)) if secret else None
    back = return_url(req, relays=relays, wallet_pubkey=wallet_pubkey, uri=uri or "",
                      lud16=lud16)  # fmt: skip
    return Approved(req, connection_id, wallet_pubkey, relays, uri, back)


# -- a local wallet folder ----------------------------------------------------------------


def approve_local(
    data_dir: Path | str,
    req: ConnectionRequest,
    *,
    budget: tuple[int, str] | None = None,
    publish: bool = True,
    now: int | None = None,
) -> Approved:
    """Create the connection in a wallet folder with create_connection's handler (its
    checks, its state change), commit it, and for walletauth publish its info event."""
    from functions.local.datadir import DataDir
    from nwc_signer.wallet import open_admin
    from signer_core.methods import MethodContext, create_connection
    from signer_core.protocol.errors import NwcError
    from signer_core.state import Connection, LedgerEntry
    from signer_core.wallets import open_wallet
    from signer_core.wallets.base import WalletEnv

    now = int(time.time()) if now is None else now
    folder = DataDir(data_dir)
    config = folder.config()
    relays = shared_relays(req, list(config.relays))
    session = open_admin(data_dir)
    state = session.state
    env = WalletEnv(seed=bytes.fromhex(state.seed_hex), now=now, config=config.wallet_config,
                    mnemonic=state.mnemonic)  # fmt: skip
    wallet = open_wallet(state.backend, state.backend_data, env)  # lazy: no network here
    secret, pubkey = (None, req.app_pubkey) if req.app_pubkey else _new_client()
    grants = default_grants(sorted(wallet.methods), sorted(wallet.notifications))
    request_id = "cli-" + _secrets.token_hex(16)
    # the command line acts with the root secret, as the admin connection would over NWC
    caller = Connection(id="command-line", name="command line", client_pubkey="",
                        service_pubkey="", methods=[], created_at=now, admin=True)  # fmt: skip
    entry = LedgerEntry(request_id, caller.id, "create_connection", "claimed", now, now)
    ctx = MethodContext(state, caller, wallet, request_id, now, session.commit, entry=entry,
                        root_secret=session.secrets.root_secret)  # fmt: skip
    try:
        result = create_connection.handle(ctx, _params(req, pubkey, grants, budget))
    except NwcError as exc:
        raise ApproveError(f"the wallet refused: {exc.message}") from None
    session.commit()
    approved = _finish(req, result["id"], result["wallet_pubkey"], relays, secret, None)
    if req.kind == "walletauth" and publish:
        event = _info_event(session, state, wallet, result["id"], now)
        published = publish_events([event], relays) if event is not None else []
        approved = replace(approved, published_on=published)
    return approved


def _info_event(session: Any, state: Any, wallet: Any, connection_id: str, now: int) -> Any:
    """The new connection's 13194 info event, exactly as a wake-up publishes it."""
    from signer_core.crypto.secp import xonly_pubkey
    from signer_core.wake import info_events

    mine = session.service_secret(connection_id)
    pubkey = xonly_pubkey(mine).hex()
    events = info_events(session, state, wallet, now)
    return next((e for e in events if e["pubkey"] == pubkey), None)


def publish_events(events: list[Any], relays: list[str], timeout: float = 10.0) -> list[str]:
    """Send signed events to relays; the relays that accepted every one of them."""
    return asyncio.run(_publish(events, relays, timeout))


async def _publish(events: list[Any], relays: list[str], timeout: float) -> list[str]:
    import nostr_sdk as ns

    client = ns.ClientBuilder().build()
    try:
        for url in relays:
            await client.add_relay(ns.RelayUrl.parse(url))
        await client.connect(timedelta(seconds=min(timeout, 5)))
        ok = {norm_relay(r) for r in relays}
        for event in events:
            out = await asyncio.wait_for(
                client.send_event(ns.Event.from_json(json.dumps(dict(event)))), timeout
            )
            ok &= {norm_relay(str(u)) for u in out.success}
        return [r for r in relays if norm_relay(r) in ok]
    except Exception:  # noqa: BLE001 - a relay that is down is reported as not published
        return []
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.shutdown(), 5)


# -- a deployed wallet, through its admin connection ----------------------------------------


def approve_remote(
    admin_uri: str,
    req: ConnectionRequest,
    *,
    budget: tuple[int, str] | None = None,
    timeout: float = REPLY_TIMEOUT_S,
) -> Approved:
    """Send create_connection with the wallet's admin connection, as the home page does.
    The watcher publishes the new connection's info event with the answer."""
    from nwc_signer.dev.nwc_app import NwcApp

    try:
        admin = NwcApp.from_uri(admin_uri.strip())
    except ValueError as exc:
        raise ApproveError(f"the admin connection URI is not valid: {exc}") from None
    relays = shared_relays(req, admin.uri.relays)
    secret, pubkey = (None, req.app_pubkey) if req.app_pubkey else _new_client()
    grants: tuple[list[str], list[str]] = ([], [])
    if req.methods is None:
        info = nwc_call(admin, "get_info", {}, timeout)
        grants = default_grants(list(info.get("methods", [])), list(info.get("notifications", [])))
    result = nwc_call(admin, "create_connection", _params(req, pubkey, grants, budget), timeout)
    wallet_pubkey = str(result.get("wallet_pubkey", ""))
    if len(wallet_pubkey) != 64:
        raise ApproveError("the wallet's answer has no wallet_pubkey")
    return _finish(req, str(result.get("id", "")), wallet_pubkey, relays, secret, admin.uri.lud16)


async def _read(stream: Any, out: asyncio.Queue[dict[str, Any]]) -> None:
    while True:
        item = await stream.next()
        if item is None or item.is_shutdown():
            return
        if item.is_new_event():
            out.put_nowait(json.loads(item.event.as_json()))


def nwc_call(app: Any, method: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One NWC request through the app's relays; its result, or ApproveError with the
    wallet's error. The same signed event is re-sent until answered (a relay may have had it
    before the watcher listened): the wallet answers a request id once."""
    return asyncio.run(_call(app, method, params, timeout))


async def _call(app: Any, method: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    import nostr_sdk as ns

    event = app.request(method, params)
    client = ns.ClientBuilder().build()
    try:
        for url in app.uri.relays:
            await client.add_relay(ns.RelayUrl.parse(url))
        await client.connect(timedelta(seconds=5))
        replies = {"kinds": [23195], "authors": [app.uri.service_pubkey], "#p": [app.pubkey],
                   "#e": [event["id"]]}  # fmt: skip
        await client.subscribe(ns.ReqTarget.auto([ns.Filter.from_json(json.dumps(replies))]))
        replies_q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        reader = asyncio.ensure_future(_read(client.notifications(), replies_q))
        deadline = time.monotonic() + timeout
        next_send = 0.0
        try:
            while time.monotonic() < deadline:
                if time.monotonic() >= next_send:
                    await client.send_event(ns.Event.from_json(json.dumps(dict(event))))
                    next_send = time.monotonic() + 5
                try:
                    found = await asyncio.wait_for(replies_q.get(), 1)
                except TimeoutError:
                    continue
                if not any(t[:2] == ["e", event["id"]] for t in found["tags"]):
                    continue
                reply = app.read(found)
                if reply.get("error"):
                    err = reply["error"]
                    raise ApproveError(f"the wallet refused {method}: {err.get('code')} "
                                       f"{err.get('message', '')}".rstrip())  # fmt: skip
                return dict(reply.get("result") or {})
        finally:
            reader.cancel()
    except ApproveError:
        raise
    except Exception as exc:  # noqa: BLE001 - relays unreachable, bad URLs: one line
        raise ApproveError(f"could not reach the wallet's relays: {exc}") from None
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.shutdown(), 5)
    raise ApproveError(f"the wallet did not answer {method} within {timeout:.0f} s; if it "
                       "answers later the connection exists: check `list_connections`")  # fmt: skip


# -- the command ---------------------------------------------------------------------------


def approve_command(args: Any) -> int:
    """`nwc-signer connection approve URI`: show the request in plain words, ask, create."""
    import os
    import sys

    from nwc_signer.request_words import describe
    from signer_core.protocol.walletauth import WalletAuthError, parse_request

    admin_uri = args.admin_uri or os.environ.get("NWC_ADMIN_URI")
    if bool(args.data_dir) == bool(admin_uri):
        raise ApproveError("name the wallet: --data-dir DIR (a local wallet folder) or "
                           "--admin-uri URI (a deployed wallet's admin connection)")  # fmt: skip
    try:
        req = parse_request(args.uri, now=int(time.time()))
    except WalletAuthError as exc:
        raise ApproveError(f"not a valid connection request ({exc.kind}): {exc}") from None
    budget = None
    if args.budget_sats is not None:
        if req.kind == "walletauth":
            raise ApproveError("--budget-sats is for nostrnwc:// links; a walletauth request "
                               "brings its own budget")  # fmt: skip
        if args.budget_sats <= 0:
            raise ApproveError("--budget-sats must be a positive number of sats")
        budget = (args.budget_sats * 1000, args.budget_renewal)
    for line in describe(req):
        print(line)
    if budget is not None:
        print(f"Budget (yours): at most {args.budget_sats:,} sats, renewed {args.budget_renewal}.")
    if not args.yes:
        if not sys.stdin.isatty():
            raise ApproveError("not approved: pass --yes to approve without a prompt")
        if input("Create this connection? [y/N] ").strip().lower() not in ("y", "yes"):
            print("not approved; nothing was created")
            return 1
    if args.data_dir:
        made = approve_local(args.data_dir, req, budget=budget)
    else:
        made = approve_remote(str(admin_uri), req, budget=budget, timeout=args.timeout)
    print(f"created connection {req.name!r} ({made.connection_id}), wallet-service key "
          f"{made.wallet_pubkey}")  # fmt: skip
    if req.kind == "walletauth":
        if args.data_dir:
            where = ", ".join(made.published_on) or "no relay (a wake-up publishes it later)"
            print(f"its info event for the app is on {where}")
        print(f"the app finds it on {', '.join(made.relays)}")
    elif made.uri:
        from nwc_signer.wallet import print_uri

        print_uri(made.uri, qr=not args.no_qr and not made.return_url)
    if made.return_url:
        print(f"return to the app: {made.return_url}")
        if args.open:
            import webbrowser

            webbrowser.open(made.return_url)
    return 0
