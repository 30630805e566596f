"""Registration proves control of the function URL (issue #13).

A signed registration proves the wallet's registration key, not that the URL it names is that
wallet's function: anyone could otherwise point a shared watcher at a third party's server
(every NWC request and wake-up of their wallet becomes a POST there). So on a registration of
a new wallet, or one that changes its function URL, the watcher sends a signed `challenge`
delivery with a random nonce to the URL, the same way it sends requests (GuardedTransport:
the address rules of urls.py), and the function answers with its registration key's
signature over (nonce, watcher pubkey, function URL) (signer_core/protocol/challenge.py).
Anything else refuses the registration with a 422 that says what happened.
"""

from __future__ import annotations

import secrets
import time

import httpx

from signer_core.protocol.challenge import verify_challenge
from signer_core.protocol.webhook import challenge_delivery, parse_response, signed_delivery

MAX_ANSWER_BYTES = 64 * 1024


class ChallengeFailed(Exception):
    """The function URL did not prove it belongs to the wallet (HTTP 422)."""

    status = 422


async def prove_function_url(
    http: httpx.AsyncClient,
    watcher_secret: bytes,
    watcher_pubkey: str,
    wallet_pubkey: str,
    function_url: str,
    timeout_s: float,
) -> None:
    """Challenge the function at `function_url`; ChallengeFailed with the reason otherwise."""
    nonce = secrets.token_hex(32)
    headers, body = signed_delivery(
        challenge_delivery(nonce, function_url), watcher_secret, int(time.time())
    )
    where = f"the function at {function_url}"
    try:
        res = await http.post(function_url, content=body, headers=headers, timeout=timeout_s)
    except httpx.TimeoutException:
        raise ChallengeFailed(
            f"{where} did not answer the registration challenge within {timeout_s:g} s"
        ) from None
    except httpx.HTTPError as exc:
        raise ChallengeFailed(
            f"{where} is unreachable ({type(exc).__name__}: {str(exc)[:200]}); it must "
            "answer the registration challenge"
        ) from None
    if len(res.content) > MAX_ANSWER_BYTES:
        raise ChallengeFailed(f"{where} answered the challenge with an oversized body")
    answer = parse_response(res.status_code, res.headers, res.content)
    if res.status_code == 401:
        raise ChallengeFailed(
            f"{where} refused the watcher's signature (401: {answer.message[:120]}); "
            f"is it configured with this watcher's public key {watcher_pubkey}?"
        )
    if res.status_code != 200:
        raise ChallengeFailed(
            f"{where} answered the registration challenge with HTTP {res.status_code}"
            f"{': ' + answer.message[:160] if answer.message else ''} (does it run a "
            "signer version that answers challenges?)"
        )
    if not answer.challenge_signature:
        raise ChallengeFailed(f"{where} answered 200 without a challenge_signature")
    if not verify_challenge(
        answer.challenge_signature, wallet_pubkey, nonce, watcher_pubkey, function_url
    ):
        raise ChallengeFailed(
            f"{where} signed the challenge with another key than this wallet's registration "
            "key: it is not this wallet's function (wrong key)"
        )
