"""NIP-47 wire types as pydantic v2 models.

Importing pydantic costs ~200 ms here, so the pipeline imports this module only when a
method has params to validate (pay_invoice, make_invoice, lookup_invoice,
list_transactions). get_balance, get_info and get_budget never load it. The reply, info
and notification models describe what the signer emits; the test suite validates every
event the pipeline produces against them, so they are the checked contract. The transaction
shape has one definition, ``signer_core.wallets.base.Transaction``; its model here is
derived from it.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import Transaction, TxType

MAX_METADATA_CHARS = 4096


class _Params(BaseModel):
    # Unknown fields are ignored: newer clients send extras older wallets must tolerate.
    # Strict: "1000" or 1000.5 as an amount is an error, never a coerced (and wrong) invoice.
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


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
    type: TxType | None = None


P = TypeVar("P", bound=_Params)


def parse_params(model: type[P], params: dict[str, Any]) -> P:
    """Validate params, turning pydantic's errors into one readable NIP-47 error.

    JSON null is "absent" for every param (clients send ``"offset": null`` for the default),
    so a null optional param takes its default and a null required one is reported missing.
    """
    present = {k: v for k, v in params.items() if v is not None}
    try:
        parsed = model.model_validate(present)
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


def _transaction_model() -> type[BaseModel]:
    """The checked wire form of ``signer_core.wallets.base.Transaction``, derived from that
    dataclass (the one definition of the shape): fields defaulting to None are optional,
    all others always present (``to_nip47`` always carries them); no unknown fields."""
    import dataclasses
    import typing

    constraints: dict[str, dict[str, Any]] = {
        "payment_hash": {"pattern": r"^[0-9a-f]{64}$"},
        "amount": {"ge": 0},
        "fees_paid": {"ge": 0},
    }
    hints = typing.get_type_hints(Transaction)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(Transaction):
        extra = constraints.get(f.name, {})
        spec = Field(default=None, **extra) if f.default is None else Field(**extra)
        fields[f.name] = (hints[f.name], spec)
    model: type[BaseModel] = create_model(
        "TransactionModel", __config__=ConfigDict(extra="forbid"), **fields
    )
    return model


TransactionModel = _transaction_model()


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
    notification: dict[str, Any]

    @field_validator("notification")
    @classmethod
    def _transaction(cls, value: dict[str, Any]) -> dict[str, Any]:
        TransactionModel.model_validate(value)
        return value


class GetInfoResult(BaseModel):
    alias: str
    color: str
    pubkey: str
    network: str
    block_height: int
    block_hash: str
    methods: list[str]
    notifications: list[str]
