"""Thin HTTP calls to a Cashu mint (the v1 REST API of NUT-01..09).

httpx is imported when the first request is made, not when this module is imported, so a
cold start that never talks to the mint (get_balance, list_transactions) does not pay for it.
Errors come out as three exceptions:

- ``CashuMintError``: the mint answered with an error (``{"detail", "code"}``); its text is
  ours (by code and status), never the mint's, which may quote proofs or SQL;
- ``MintUnreachable``: no usable answer (refused, timed out, cut off). ``maybe_received``
  tells whether the mint may have processed the request anyway;
- ``CashuProtocolError``: the mint answered 2xx with something that is not what NUTs say.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from signer_core.wallets.redact import scrub

if TYPE_CHECKING:  # pragma: no cover
    import httpx

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_MAX = 5.0  # an unreachable mint should fail fast, whatever the read budget


class CashuError(Exception):
    """Base of everything the Cashu client raises."""


class CashuMintError(CashuError):
    """The mint refused a request.

    ``detail`` (and the exception's text) is our own description, by the NUT error code and
    the HTTP status: "code 11001: token already spent". The mint's words can quote proofs,
    secrets or SQL, so they stay out of messages and logs; ``mentions`` matches on them.
    """

    def __init__(self, raw: str, code: int = 0, status: int = 400) -> None:
        self.code = code
        self.status = status
        self.detail = describe(code, status, raw)
        super().__init__(self.detail)
        self._raw = raw

    def mentions(self, *words: str) -> bool:
        """Does the mint's own text contain any of ``words`` (lowercase)?"""
        text = self._raw.lower()
        return any(w in text for w in words)

    def debug_text(self) -> str:
        """The mint's words with secret-shaped runs blanked: for debug logs only."""
        return scrub(self._raw)


class MintUnreachable(CashuError):
    """Transport failure. ``maybe_received``: the request may have reached the mint."""

    def __init__(self, message: str, maybe_received: bool) -> None:
        super().__init__(message)
        self.maybe_received = maybe_received


class CashuProtocolError(CashuError):
    """A malformed or inconsistent mint response."""


# NUT error codes we act on
CODE_PROOFS_SPENT = 11001
CODE_PROOFS_PENDING = 11002
CODE_OUTPUTS_SIGNED = 11003
CODE_OUTPUTS_PENDING = 11004
CODE_KEYSET_UNKNOWN = 12001
CODE_KEYSET_INACTIVE = 12002
CODE_QUOTE_NOT_PAID = 20001
CODE_QUOTE_ISSUED = 20002
CODE_QUOTE_EXPIRED = 20007

# what a NUT error code means: the only detail of a refusal a caller or a log sees
KNOWN_CODES: dict[int, str] = {
    10000: "not allowed",
    10001: "proofs could not be verified",
    10002: "output already signed",
    11000: "transaction error",
    CODE_PROOFS_SPENT: "token already spent",
    CODE_PROOFS_PENDING: "proofs are pending",
    CODE_OUTPUTS_SIGNED: "outputs already signed",
    CODE_OUTPUTS_PENDING: "outputs are pending",
    11005: "transaction is not balanced",
    11006: "amount outside of the limit range",
    11007: "duplicate inputs",
    11008: "duplicate outputs",
    11009: "inputs or outputs of several units",
    11010: "inputs and outputs not of the same unit",
    11011: "amountless invoices are not supported",
    11012: "amount does not match the invoice",
    12000: "keyset error",
    CODE_KEYSET_UNKNOWN: "keyset not known",
    CODE_KEYSET_INACTIVE: "keyset inactive",
    20000: "Lightning error",
    CODE_QUOTE_NOT_PAID: "quote not paid",
    CODE_QUOTE_ISSUED: "quote already issued",
    20003: "minting is disabled",
    20004: "Lightning payment failed",
    20005: "quote is pending",
    20006: "invoice already paid",
    CODE_QUOTE_EXPIRED: "quote expired",
    20008: "mint request signature invalid",
    20009: "pubkey required for the mint quote",
}


# generic codes (and none) whose cause mints tell in words: the phrases we recognise, and
# the text we show for them (the mint's words themselves are never shown)
GENERIC_CODES = frozenset({0, 10000, 11000, 12000, 20000})
KNOWN_PHRASES: tuple[tuple[str, str], ...] = (
    ("already issued", "quote already issued"),
    ("already paid", "invoice already paid"),
    ("expired", "expired"),
    ("not found", "not found"),
    ("not enough", "not enough inputs"),
)


def describe(code: int, status: int, raw: str = "") -> str:
    """A refusal in our words: "code 11001: token already spent", "code 11000: quote
    already issued" (a generic code with a phrase we know), "code 12345", "HTTP 500"."""
    if code in GENERIC_CODES:
        text = raw.lower()
        for phrase, shown in KNOWN_PHRASES:
            if phrase in text:
                return f"code {code}: {shown}" if code else f"HTTP {status}: {shown}"
    if code in KNOWN_CODES:
        return f"code {code}: {KNOWN_CODES[code]}"
    if code:
        return f"code {code}, HTTP {status}"
    return f"HTTP {status}"


class MintClient:
    def __init__(
        self, mint_url: str, timeout: float = 10.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.mint_url = mint_url.rstrip("/")
        self.timeout = timeout
        self._transport = transport
        self._http: httpx.Client | None = None

    # --- plumbing ---------------------------------------------------------------------

    @property
    def transport(self) -> httpx.BaseTransport | None:
        return self._transport

    def _client(self) -> httpx.Client:
        if self._http is None:
            import httpx  # lazy: ~60 ms we only pay when the mint is actually called

            self._http = httpx.Client(
                base_url=self.mint_url,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT_MAX)),
                transport=self._transport,
                headers={"user-agent": "nwc-signer"},
                follow_redirects=False,
            )
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        import httpx

        client = self._client()
        try:
            response = client.request(method, path, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise MintUnreachable(
                f"mint {self.mint_url} is unreachable ({type(exc).__name__})", maybe_received=False
            ) from exc
        except httpx.TransportError as exc:  # read/write timeouts, resets, protocol errors
            raise MintUnreachable(
                f"no answer from mint {self.mint_url} ({type(exc).__name__})", maybe_received=True
            ) from exc
        if response.status_code >= 400:
            error = _mint_error(response)
            log.debug(
                "mint refused %s %s: %s (mint said: %s)",
                method,
                path.split("/quote/")[0],
                error.detail,
                error.debug_text(),
            )
            raise error
        try:
            return response.json()
        except ValueError as exc:
            raise CashuProtocolError(f"mint answered {path} with non-JSON content") from exc

    def _get(self, path: str) -> dict[str, Any]:
        return _as_dict(self._request("GET", path), path)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return _as_dict(self._request("POST", path, body), path)

    # --- NUT-01/02/06 -------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        return self._get("/v1/info")

    def keys(self, keyset_id: str | None = None) -> list[dict[str, Any]]:
        path = f"/v1/keys/{keyset_id}" if keyset_id else "/v1/keys"
        return _as_list(self._get(path).get("keysets"), path)

    def keysets(self) -> list[dict[str, Any]]:
        return _as_list(self._get("/v1/keysets").get("keysets"), "/v1/keysets")

    # --- NUT-03/04/05 -------------------------------------------------------------------

    def swap(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> list[Any]:
        res = self._post("/v1/swap", {"inputs": inputs, "outputs": outputs})
        return _as_list(res.get("signatures"), "/v1/swap")

    def mint_quote(self, amount: int, unit: str, description: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"amount": amount, "unit": unit}
        if description:
            body["description"] = description
        return self._post("/v1/mint/quote/bolt11", body)

    def get_mint_quote(self, quote_id: str) -> dict[str, Any]:
        return self._get(f"/v1/mint/quote/bolt11/{quote_id}")

    def mint(self, quote_id: str, outputs: list[dict[str, Any]]) -> list[Any]:
        res = self._post("/v1/mint/bolt11", {"quote": quote_id, "outputs": outputs})
        return _as_list(res.get("signatures"), "/v1/mint/bolt11")

    def melt_quote(self, request: str, unit: str) -> dict[str, Any]:
        return self._post("/v1/melt/quote/bolt11", {"request": request, "unit": unit})

    def get_melt_quote(self, quote_id: str) -> dict[str, Any]:
        return self._get(f"/v1/melt/quote/bolt11/{quote_id}")

    def melt(
        self, quote_id: str, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"quote": quote_id, "inputs": inputs}
        if outputs:
            body["outputs"] = outputs
        return self._post("/v1/melt/bolt11", body)

    # --- NUT-07/09 ----------------------------------------------------------------------

    def checkstate(self, ys: list[str]) -> dict[str, str]:
        """Y (hex) -> "UNSPENT" | "PENDING" | "SPENT"."""
        states = _as_list(self._post("/v1/checkstate", {"Ys": ys}).get("states"), "/v1/checkstate")
        out: dict[str, str] = {}
        for item in states:
            if isinstance(item, dict) and isinstance(item.get("Y"), str):
                out[item["Y"]] = str(item.get("state", ""))
        missing = [y for y in ys if y not in out]
        if missing:
            raise CashuProtocolError(f"mint did not report the state of {len(missing)} proofs")
        return out

    def restore(self, outputs: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
        res = self._post("/v1/restore", {"outputs": outputs})
        return (
            _as_list(res.get("outputs"), "/v1/restore"),
            _as_list(res.get("signatures", res.get("promises")), "/v1/restore"),
        )


def _mint_error(response: httpx.Response) -> CashuMintError:
    raw, code = "", 0
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        detail = payload.get("detail")
        if detail is not None:
            raw = (detail if isinstance(detail, str) else str(detail))[:1000]
        found = payload.get("code")
        if isinstance(found, int) and not isinstance(found, bool):
            code = found
    return CashuMintError(raw, code, response.status_code)


def _as_dict(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CashuProtocolError(f"mint answered {path} with an unexpected shape")
    return value


def _as_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise CashuProtocolError(f"mint answered {path} with an unexpected shape")
    return value
