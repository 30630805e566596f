"""Lambda Function URL entry point: the webhook contract of docs/webhook.md on AWS.

Order of work for a delivery (each step cheaper than the next, strangers rejected first):
  1 shape of the Function URL event            -> 400 (before Powertools sees it)
  2 raw body bytes (base64 undone), size       -> 413
  3 watcher signature (once), the body parsed (once) -> 401 / 400, storage untouched
  4 idempotency filter on the Nostr event id (DynamoDB, Powertools): a finished delivery
    answers from the table; one still running answers 409 so the watcher retries
  5 the pipeline's `handle_delivery` (S3 CAS + ledger: the real exactly-once guarantee)
Only 200 answers are stored by the filter; every other status deletes the in-progress
record (the inner function raises), so the watcher's retry runs the pipeline again.
The settings are read from the environment once per invocation (`handler`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

from functions.aws_lambda import metering
from functions.aws_lambda.runtime import RootSecretError, Runtime
from functions.aws_lambda.settings import Settings, SettingsError
from signer_core.attempt import Deps, SignerConfig
from signer_core.pipeline import handle_delivery
from signer_core.protocol.webhook import (
    MAX_BODY_BYTES,
    BadDelivery,
    Delivery,
    WebhookAuthError,
    WebhookResponse,
    encode_response,
    parse_delivery,
    verify_delivery,
)

logger = Logger(service="nwc-signer")
metrics = Metrics(namespace="NwcSigner", service="nwc-signer")
app = LambdaFunctionUrlResolver()

_runtime: Runtime | None = None
_invocation: Runtime | None = None  # the runtime `handler` resolved for this invocation


class _NotFinal(Exception):
    """Carries a non-200 pipeline answer out of the idempotent function, so Powertools
    deletes its in-progress record instead of storing an answer the watcher will retry."""

    def __init__(self, response: WebhookResponse) -> None:
        super().__init__(response.status)
        self.response = response


def runtime() -> Runtime:
    """The warm runtime; rebuilt only if the configuration changed (tests, the emulator).
    Reads the settings from the environment: call it once per invocation."""
    global _runtime
    settings = Settings.from_env()
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if _runtime is None or _runtime.settings != settings or _runtime.endpoint != endpoint:
        _runtime = Runtime.build(settings)
        _runtime.endpoint = endpoint
    return _runtime


def reset() -> None:
    """Forget the warm state (tests build several configurations in one process)."""
    global _runtime, _invocation
    _runtime = _invocation = None


def _reply(response: WebhookResponse) -> Response[str]:
    status, headers, body = encode_response(response)
    content_type = headers.pop("Content-Type")
    return Response(status, content_type, body.decode(), headers)


def _event_key(delivery: Delivery) -> dict[str, str] | None:
    """The idempotency data of a request delivery: the Nostr event id, and a hash of the
    whole event so a different event under a reused id is refused, not answered."""
    event = delivery.event
    event_id = event.get("id") if delivery.type == "request" and event is not None else None
    if not isinstance(event_id, str) or len(event_id) != 64:
        return None
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
    return {"event_id": event_id.lower(), "event_hash": hashlib.sha256(canonical).hexdigest()}


def _pipeline(rt: Runtime, delivery: Delivery, now: int) -> WebhookResponse:
    secrets = rt.root_secret()
    deps = Deps(
        store=rt.checked_store(secrets),
        guard=rt.guard,
        secrets=secrets,
        config=SignerConfig(
            wallet_id=rt.settings.wallet_id, watcher_pubkey=rt.settings.watcher_pubkey
        ),
        wallet_hook=metering.wrap,
    )
    return handle_delivery(delivery, deps, now)


def _filtered(rt: Runtime, key: dict[str, str], delivery: Delivery, now: int) -> Any:
    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    def process(delivery_key: dict[str, str]) -> dict[str, Any]:
        response = _pipeline(rt, delivery, now)
        if response.status != 200:
            raise _NotFinal(response)
        return response.to_json()

    run = idempotent_function(
        process,
        data_keyword_argument="delivery_key",
        persistence_store=rt.persistence,
        config=rt.idempotency_config,
        key_prefix="nwc-signer#event",
    )
    return run(delivery_key=key)


def deliver(headers: dict[str, str], body: bytes, rt: Runtime | None = None) -> WebhookResponse:
    """Steps 3-5 for raw bytes and headers exactly as the watcher sent them."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    try:
        rt = rt or runtime()
    except SettingsError as exc:
        return WebhookResponse(500, message=f"function misconfigured: {exc}")
    now = int(time.time())
    try:
        verify_delivery(headers, body, rt.settings.watcher_pubkey, now)
        delivery = parse_delivery(body)
    except WebhookAuthError as exc:
        return WebhookResponse(401, message=str(exc))
    except BadDelivery as exc:
        return WebhookResponse(400, message=str(exc))
    try:
        key = _event_key(delivery)
        if key is None:  # wake-ups, and request bodies whose event the pipeline refuses
            return _pipeline(rt, delivery, now)
        stored = _filtered(rt, key, delivery, now)
        return WebhookResponse(
            200,
            events=list(stored.get("events", [])),
            wake_at=stored.get("wake_at"),
            message=str(stored.get("message", "")),
            retry_after=stored.get("retry_after"),
        )
    except _NotFinal as exc:
        return exc.response
    except IdempotencyAlreadyInProgressError:
        busy = "this event is being handled; retry soon"
        return WebhookResponse(409, message=busy, retry_after=1)
    except IdempotencyValidationError:
        return WebhookResponse(400, message="a different event was delivered under this id")
    except IdempotencyPersistenceLayerError as exc:
        logger.warning("idempotency table unavailable", extra={"error": type(exc).__name__})
        return WebhookResponse(503, message="idempotency table unavailable", retry_after=5)
    except RootSecretError as exc:
        logger.error("root secret refused", extra={"reason": str(exc)})
        return WebhookResponse(500, message=str(exc))
    except ConnectionError as exc:
        return WebhookResponse(503, message=str(exc), retry_after=5)


@app.get("/health")
def health() -> Response[str]:
    return Response(status_code=200, content_type="application/json", body='{"ok":true}')


@app.post("/")
@app.post("/webhook")
def webhook() -> Response[str]:
    raw = app.current_event.raw_event
    headers = {str(k): str(v) for k, v in (raw.get("headers") or {}).items()}
    text = raw.get("body") or ""
    if raw.get("isBase64Encoded"):
        try:
            body = base64.b64decode(text, validate=True)
        except ValueError:
            return _reply(WebhookResponse(400, message="body is not valid base64"))
    else:
        body = text.encode("utf-8")
    if len(body) > MAX_BODY_BYTES:
        return _reply(WebhookResponse(413, message=f"body larger than {MAX_BODY_BYTES} bytes"))
    response = deliver(headers, body, _invocation)
    _count(response)
    return _reply(response)


def _count(response: WebhookResponse) -> None:
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    if response.status >= 500:
        metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
    elif response.status == 409:
        metrics.add_metric(name="Busy", unit=MetricUnit.Count, value=1)
    sent, received = metering.drain()
    for msat in sent:
        metrics.add_metric(name="PaymentSentSats", unit=MetricUnit.Count, value=msat / 1000)
    for msat in received:
        metrics.add_metric(name="PaymentReceivedSats", unit=MetricUnit.Count, value=msat / 1000)


def malformed(event: object) -> str | None:
    """Why a Lambda event is not a Function URL request we can route, or None."""
    if not isinstance(event, dict):
        return "event is not an object"
    http = (
        (event.get("requestContext") or {}).get("http")
        if isinstance(event.get("requestContext"), dict)
        else None
    )
    if not isinstance(http, dict) or not isinstance(http.get("method"), str):
        return "not a Function URL event (requestContext.http.method missing)"
    if not isinstance(event.get("rawPath"), str):
        return "not a Function URL event (rawPath missing)"
    if "headers" in event and not isinstance(event["headers"], dict | None):
        return "headers must be an object"
    if "body" in event and not isinstance(event["body"], str | None):
        return "body must be a string"
    if not isinstance(event.get("isBase64Encoded", False), bool):
        return "isBase64Encoded must be a boolean"
    return None


def _error(status: int, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"events": [], "wake_at": None, "message": message}),
        "isBase64Encoded": False,
    }


@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda handler (template.yaml: functions.aws_lambda.handler.handler)."""
    problem = malformed(event)
    if problem is not None:
        logger.warning("malformed invocation", extra={"reason": problem})
        return _error(400, problem)
    global _invocation
    _invocation = runtime_or_none()  # the settings, read once for this invocation
    if _invocation is not None and hasattr(context, "get_remaining_time_in_millis"):
        # in-progress records expire with the invocation
        _invocation.idempotency_config.register_lambda_context(context)
    try:
        result: dict[str, Any] = app.resolve(event, context)
    except Exception:
        logger.exception("unexpected failure in the Lambda handler")
        return _error(500, "internal error")
    finally:
        _invocation = None
    return result


def runtime_or_none() -> Runtime | None:
    try:
        return runtime()
    except SettingsError:
        return None
