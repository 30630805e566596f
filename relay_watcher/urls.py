"""Which function URLs a watcher may call: a guard against SSRF (issue #9).

A shared watcher POSTs to whatever URL a wallet registers, from inside its operator's network:
cloud metadata (169.254.169.254), private ranges, loopback, link-local, IPv6 ULA, `0.0.0.0`.
So, unless the watcher runs with `allow_private_function_urls` (a local/dev stack whose
functions are on 127.0.0.1):

- at registration the URL must be http(s) without userinfo, and its host, literal or name,
  must resolve only to public unicast addresses (`check_registration`);
- at delivery the same check runs again *when the connection is opened*
  (`GuardedTransport`): the address checked is the address connected to, so a name that
  later resolves to a private address (DNS rebinding) is never contacted (AddressRefused).

URLs are parsed with httpx, the same parser that makes the request, so the host checked is the
host connected to (no parser differential between the check and the call).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

MAX_URL_CHARS = 2000
RESOLVE_TIMEOUT_S = 5.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(ValueError):
    """A function URL the watcher will not call (the message says why)."""


class AddressRefused(UrlRefused):
    """A function URL's host is, or resolves to, an address the watcher will not call."""


def parse(url: object) -> httpx.URL:
    """The URL as httpx will request it: http(s), a host, no userinfo; else UrlRefused."""
    if not isinstance(url, str) or not 0 < len(url) <= MAX_URL_CHARS:
        raise UrlRefused(f"function_url must be a URL of at most {MAX_URL_CHARS} characters")
    if not url.isascii() or not url.isprintable() or any(c.isspace() for c in url):
        raise UrlRefused("function_url must be printable ASCII without spaces")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise UrlRefused("function_url is not a valid URL") from None
    if parsed.scheme not in ("http", "https"):
        raise UrlRefused("function_url must be an http(s) URL")
    if parsed.userinfo or "@" in parsed.netloc.decode("ascii", "replace"):
        raise UrlRefused("function_url must not carry a user name or password")
    if not parsed.raw_host:
        raise UrlRefused("function_url has no host")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise UrlRefused("function_url has an invalid port")
    return parsed


def host_and_port(url: httpx.URL) -> tuple[str, int]:
    """The host (ASCII, as the connection resolves it; IPv6 without brackets) and port."""
    return url.raw_host.decode("ascii"), url.port or (443 if url.scheme == "https" else 80)


def refusal(address: IPAddress) -> str | None:
    """Why `address` is not a public unicast address, or None if it is one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is not None:
            why = refusal(embedded)
            return f"embeds {embedded} ({why})" if why else None
    for flag in ("loopback", "link_local", "unspecified", "multicast", "private", "reserved"):
        if getattr(address, f"is_{flag}"):
            return flag.replace("_", "-")
    if not address.is_global:
        return "not globally routable"
    return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (a literal resolves to itself; `127.1` and
    `2130706433` too, as the connection would). OSError if it does not resolve."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S
        )
    except TimeoutError:
        raise OSError(f"resolving {host} timed out") from None
    except UnicodeError:
        raise OSError(f"{host} is not a valid host name") from None
    found: dict[IPAddress, None] = {}
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        found[ipaddress.ip_address(text)] = None
    if not found:
        raise OSError(f"{host} resolves to no address")
    return list(found)


def check_addresses(host: str, addresses: Iterable[IPAddress]) -> None:
    """AddressRefused unless every address is public (one private answer is enough to refuse:
    the connection could pick it)."""
    for address in addresses:
        why = refusal(address)
        if why is not None:
            shown = host if host == str(address) else f"{host} resolves to {address}, which"
            raise AddressRefused(
                f"function_url refused: {shown} is {why}; a watcher for local functions "
                "runs with --allow-private-function-urls"
            )


async def check_registration(url: object, *, allow_private: bool) -> str:
    """The URL to store for a registration (httpx's normal form), or UrlRefused saying why."""
    parsed = parse(url)
    if not allow_private:
        host, port = host_and_port(parsed)
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise UrlRefused(f"function_url host cannot be resolved: {exc}") from None
        check_addresses(host, addresses)
    return str(parsed)


class _GuardedBackend(httpcore.AnyIOBackend):
    """Resolves, checks and connects to the checked address, in one step per connection."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from None  # transient: retried
        check_addresses(host, addresses)
        last: Exception | None = None
        for address in addresses:
            try:
                return await super().connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, but every new connection goes through `_GuardedBackend`. TLS still
    verifies the certificate against the URL's host name (SNI is unchanged)."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(),
        )
