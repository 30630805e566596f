"""sign_message (Alby's NWC extension): sign a text with a key of the wallet.

Result ``{message, signature}`` as Alby Hub returns it. What the signature is depends on
the backend (Spark: ECDSA by its identity key over SHA-256 of the message, compact hex,
verifiable against get_info's ``spark_identity_pubkey``); Cashu has no such key and answers
NOT_IMPLEMENTED before this module is reached.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from signer_core.methods import MethodContext
from signer_core.protocol.models import _Params, parse_params
from signer_core.wallets.extensions import MessageSigner, require

MAX_MESSAGE_CHARS = 4096


class SignMessageParams(_Params):
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    p = parse_params(SignMessageParams, params)
    signer = require(ctx.wallet, MessageSigner, "sign_message")  # type: ignore[type-abstract]
    return {"message": p.message, "signature": signer.sign_message(p.message)}
