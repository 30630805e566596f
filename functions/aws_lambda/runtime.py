"""What one warm Lambda process keeps between invocations: AWS clients, the stores, the
root secret (Powertools Parameters, cached) and the idempotency filter.

Built on the first request, not at import, so a configuration or secret problem becomes a
clear 500 answer instead of an import crash, and tests can build several runtimes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from functions.aws_lambda.settings import Settings
from signer_core.session import Secrets
from signer_core.stores.s3 import DynamoDBGenerationGuard, S3Store, client_config
from signer_core.vault.sealed import VaultError


def quiet_botocore() -> None:
    """botocore logs whole request and response bodies at DEBUG (GetSecretValue's answer,
    CreateSecret's request): never let a debug log level (ApplicationLogLevel DEBUG, a test
    run) print the root secret."""
    for name in ("botocore.parsers", "botocore.endpoint"):
        logging.getLogger(name).setLevel(logging.INFO)


quiet_botocore()

SECRET_MAX_AGE_S = 900  # a rotated secret is picked up by warm functions within 15 min


class RootSecretError(Exception):
    """The root secret is missing, unreadable or malformed: answer 500, touch nothing."""


class RootSecretMismatch(VaultError):
    """The root secret does not derive the wallet's connection keys: the wrong secret is
    configured. Raised before any state is opened, so nothing is written."""


class CheckedStore:
    """The S3 store, checking each blob read against the root secret before the pipeline
    uses it: with a wrong (but well-formed) secret the pipeline would otherwise answer
    requests with replies signed by keys the apps do not know."""

    def __init__(self, inner: S3Store, root_secret: bytes) -> None:
        self.inner = inner
        self._root = root_secret

    def read(self) -> tuple[bytes, str] | None:
        found = self.inner.read()
        if found is not None:
            check_root_secret(found[0], self._root)
        return found

    def write(self, blob: bytes, expected_version: str | None) -> str:
        return self.inner.write(blob, expected_version)


def check_root_secret(blob: bytes, root_secret: bytes) -> None:
    from signer_core.vault import sealed
    from signer_core.vault.keys import service_pubkey

    parsed = sealed.parse(blob)
    for pubkey, wrap in list(parsed.wraps.items())[:1]:
        if service_pubkey(root_secret, wrap.connection_id) != pubkey:
            raise RootSecretMismatch(
                "the configured root secret does not match this wallet (wrong secret?)"
            )


def parse_root_secret(value: object) -> bytes:
    """64 hex characters (what the template's GenerateSecretString makes) -> 32 bytes."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = value.strip() if isinstance(value, str) else ""
    if len(text) != 64:
        raise RootSecretError("the root secret must be 64 hex characters (32 bytes)")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise RootSecretError("the root secret must be 64 hex characters (32 bytes)") from None


@dataclass
class Runtime:
    settings: Settings
    s3: Any
    dynamodb: Any
    secrets_client: Any
    provider: Any
    store: S3Store
    guard: DynamoDBGenerationGuard
    persistence: Any
    idempotency_config: Any
    endpoint: str | None = None

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        """One boto3 session and one client per service, shared by our stores and by
        Powertools (each extra client costs ~40 ms of model loading on a cold start)."""
        import boto3
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
        )

        session = boto3.session.Session()
        config = client_config()
        s3 = session.client("s3", config=config)
        dynamodb = session.client("dynamodb", config=config)
        if settings.root_store == "ssm":
            from aws_lambda_powertools.utilities.parameters import SSMProvider

            secrets_client = session.client("ssm", config=config)
            provider: Any = SSMProvider(boto3_client=secrets_client)
        else:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            secrets_client = session.client("secretsmanager", config=config)
            provider = SecretsProvider(boto3_client=secrets_client)
        return cls(
            settings=settings,
            s3=s3,
            dynamodb=dynamodb,
            secrets_client=secrets_client,
            provider=provider,
            store=S3Store(settings.state_bucket, settings.state_key, client=s3),
            guard=DynamoDBGenerationGuard(
                settings.table_name, settings.guard_item_id, client=dynamodb
            ),
            persistence=DynamoDBPersistenceLayer(
                table_name=settings.table_name, boto3_client=dynamodb
            ),
            idempotency_config=IdempotencyConfig(
                event_key_jmespath="event_id",
                payload_validation_jmespath="event_hash",
                raise_on_no_idempotency_key=True,
                expires_after_seconds=settings.idempotency_ttl_s,
            ),
        )

    def root_secret(self) -> Secrets:
        """From Secrets Manager / SSM SecureString through Powertools Parameters, cached in
        this process for SECRET_MAX_AGE_S (one fetch per cold start)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if self.settings.root_store == "ssm":
                value = self.provider.get(
                    self.settings.root_secret_id, max_age=SECRET_MAX_AGE_S, decrypt=True
                )
            else:
                value = self.provider.get(self.settings.root_secret_id, max_age=SECRET_MAX_AGE_S)
        except Exception as exc:
            # Powertools wraps every failure in GetParameterError (the cause is its context)
            inner = exc.__cause__ or exc.__context__
            cause = inner if isinstance(inner, Exception) else exc
            if isinstance(cause, ClientError):
                code = cause.response.get("Error", {}).get("Code", "")
                raise RootSecretError(
                    f"cannot read the root secret {self.settings.root_secret_id!r}: {code}"
                ) from None
            if isinstance(cause, BotoCoreError):
                raise ConnectionError("the secret store is unreachable") from None
            raise RootSecretError(
                f"cannot read the root secret {self.settings.root_secret_id!r}"
            ) from None
        return Secrets(root_secret=parse_root_secret(value))

    def checked_store(self, secrets: Secrets) -> CheckedStore:
        return CheckedStore(self.store, secrets.root_secret)
