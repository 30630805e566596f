"""NIP-47 wire types as pydantic v2 models.

Importing pydantic costs ~200 ms here, so the pipeline imports this module only when a
method has params to validate (pay_invoice, make_invoice, lookup_invoice,
list_transactions). get_balance, get_info and get_budget never load it. The reply, info
and notification models describe what the signer emits; the test suite validates every
event the pipeline produces against them, so they are the checked contract.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from signer_core.protocol.errors import ErrorCode, NwcError

MAX_METADATA_CHARS = 4096
Hex64 = Field(pattern=r"^[0-9a-f]{64}$")


class _Params(BaseModel):
    # Unknown fields are ignored: newer clients send extras older wallets must tolerate.
    model_config = ConfigDict(extra="ignore", strict=False, frozen=True)


class PayInvoiceParams(_Params):
    invoice: str = Field(min_length=10, max_length=8192)
    amount: int | None = Field(default=None, gt=0)
    metadata: dict[str, Any] | None = None


class MakeInvoiceParams(_Params):
    amount: int = Field(gt=0)
    description: str | None = Field(default=None, max_length=639)
    description_hash: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    expiry: int | None = Field(default=None, gt=0, le=30 * 24 * 3600)
    metadata: dict[str, Any] | None = None


class LookupInvoiceParams(_Params):
    payment_hash: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    invoice: str | None = Field(default=None, min_length=10, max_length=8192)

    @model_validator(mode="after")
    def _one_of(self) -> LookupInvoiceParams:
        if not self.payment_hash and not self.invoice:
            raise ValueError("either payment_hash or invoice is required")
        return self


class ListTransactionsParams(_Params):
    from_: int | None = Field(default=None, alias="from", ge=0)
    until: int | None = Field(default=None, ge=0)
    limit: int = Field(default=20, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    unpaid: bool = False
    type: Literal["incoming", "outgoing"] | None = None


P = TypeVar("P", bound=_Params)


def parse_params(model: type[P], params: dict[str, Any]) -> P:
    """Validate params, turning pydantic's errors into one readable NIP-47 error."""
    try:
        parsed = model.model_validate(params)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise NwcError(ErrorCode.OTHER, f"invalid params: {problems}") from None
    metadata = getattr(parsed, "metadata", None)
    if metadata is not None:
        import json

        if len(json.dumps(metadata)) > MAX_METADATA_CHARS:
            raise NwcError(ErrorCode.OTHER, "invalid params: metadata exceeds 4096 characters")
    return parsed


# --- what the signer emits (checked by the tests) -------------------------------------


class TransactionModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["incoming", "outgoing"]
    state: Literal["pending", "settled", "expired", "failed", "accepted"]
    invoice: str
    payment_hash: str = Hex64
    amount: int = Field(ge=0)
    fees_paid: int = Field(ge=0)
    created_at: int
    description: str | None = None
    description_hash: str | None = None
    preimage: str | None = None
    expires_at: int | None = None
    settled_at: int | None = None
    metadata: dict[str, Any] | None = None


class ErrorModel(BaseModel):
    code: ErrorCode
    message: str


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    result_type: str
    error: ErrorModel | None = None
    result: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _result_or_error(self) -> ResponseModel:
        if (self.error is None) == (self.result is None):
            raise ValueError("exactly one of result and error must be set")
        return self


class NotificationModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    notification_type: Literal["payment_received", "payment_sent"]
    notification: TransactionModel


class GetInfoResult(BaseModel):
    alias: str
    color: str
    pubkey: str
    network: str
    block_height: int
    block_hash: str
    methods: list[str]
    notifications: list[str]
