"""The AWS side of a local stack: moto_server on loopback, the stack's resources provisioned
in it (state bucket, idempotency table, root secret), and the real Lambda handler behind
the Function-URL emulator. `nwc-signer dev --runtime lambda` and the tests use it.
A wallet is always created in a local folder (nwc_signer.wallet.create_local_wallet) and
the stack's bucket is seeded from it, in dev and in the tests alike.

In dev the wallet folder (`--data-dir`) stays the place the CLI administers: the function's
bucket is seeded from it, a newer local blob (a connection added with the CLI) is pushed
before each invocation and the function's newer blob is written back after it, so
restarting on the same folder keeps the wallet. That shim is dev-only.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.aws_lambda.runtime import quiet_botocore
from nwc_signer.dev.driver import WebhookDriver
from nwc_signer.dev.mirror import FolderMirror
from nwc_signer.dev.process import Supervisor, free_port, http_probe

quiet_botocore()  # provisioning sends the root secret (CreateSecret)

REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_FAKE_KEYS = {k.lower(): v for k, v in FAKE_CREDENTIALS.items()}  # moto accepts any keys


@contextlib.contextmanager
def moto_server(port: int | None = None) -> Iterator[str]:
    """A supervised moto_server on 127.0.0.1; yields its endpoint URL once it answers."""
    import tempfile

    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="nwc-moto-") as tmp:
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        child = Supervisor("moto_server", argv, ready=http_probe(f"{url}/moto-api/"),
                           log_path=Path(tmp) / "moto.log", start_timeout=30)  # fmt: skip
        with child:
            yield url


@dataclass
class Stack:
    """One user's resources in moto, named like the SAM template names them."""

    endpoint_url: str
    env: dict[str, str]

    def session(self) -> Any:
        import boto3

        return boto3.session.Session(region_name=REGION, **_FAKE_KEYS)

    def client(self, service: str) -> Any:
        return self.session().client(service, endpoint_url=self.endpoint_url)

    def settings(self) -> Any:
        from functions.aws_lambda.settings import Settings

        return Settings.from_env(self.env)


def provision(
    endpoint_url: str,
    *,
    wallet_id: str,
    watcher_pubkey: str,
    root_secret_hex: str | None,
    name: str = "nwc-signer",
) -> Stack:
    """Create the bucket (versioned), the table (TTL on `expiration`) and the root secret
    (given, or 64 hex characters generated like the template's GenerateSecretString)."""
    import boto3

    sess = boto3.session.Session(region_name=REGION, **_FAKE_KEYS)
    s3 = sess.client("s3", endpoint_url=endpoint_url)
    ddb = sess.client("dynamodb", endpoint_url=endpoint_url)
    sm = sess.client("secretsmanager", endpoint_url=endpoint_url)
    suffix = os.urandom(4).hex()
    bucket, table = f"{name}-state-{suffix}", f"{name}-idempotency-{suffix}"
    secret = f"{name}/root-{suffix}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ddb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"},
    )
    if root_secret_hex is None:
        value = sm.get_random_password(
            PasswordLength=64,
            ExcludeCharacters="ghijklmnopqrstuvwxyz",
            ExcludeUppercase=True,
            ExcludePunctuation=True,
            IncludeSpace=False,
        )["RandomPassword"]
        root_secret_hex = value
    sm.create_secret(Name=secret, SecretString=root_secret_hex)
    env = {
        **FAKE_CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint_url,
        "WALLET_ID": wallet_id,
        "WATCHER_PUBKEY": watcher_pubkey,
        "STATE_BUCKET": bucket,
        "STATE_KEY": "wallet.sealed",
        "TABLE_NAME": table,
        "ROOT_SECRET_ID": secret,
        "POWERTOOLS_SERVICE_NAME": "nwc-signer",
        "POWERTOOLS_METRICS_NAMESPACE": "NwcSigner",
    }
    return Stack(endpoint_url, env)


def folder_mirror(data_dir: Path, stack: Stack) -> FolderMirror:
    """The dev shim between the wallet folder and the stack's bucket (nwc_signer/dev/mirror.py)."""
    from signer_core.stores.s3 import DynamoDBGenerationGuard, S3Store

    settings = stack.settings()
    remote = S3Store(settings.state_bucket, settings.state_key, client=stack.client("s3"))
    guard = DynamoDBGenerationGuard(
        settings.table_name, settings.guard_item_id, client=stack.client("dynamodb")
    )
    return FolderMirror(data_dir, remote, guard)


def stack_for_folder(data_dir: Path, endpoint_url: str) -> Stack:
    """Provision a stack for a local wallet folder (its root secret, watcher key, id)."""
    from functions.local.datadir import DataDir

    folder = DataDir(data_dir)
    cfg = folder.config()
    return provision(
        endpoint_url,
        wallet_id=cfg.wallet_id,
        watcher_pubkey=cfg.watcher_pubkey,
        root_secret_hex=folder.secrets().root_secret.hex(),
    )


@contextlib.contextmanager
def lambda_function(data_dir: Path, port: int, host: str = "127.0.0.1") -> Iterator[Any]:
    """moto_server + a stack seeded from `data_dir` + the real handler behind the Function
    URL emulator on host:port. Yields the (not yet serving) HTTP server; the caller runs
    serve_forever(). Sets the AWS_* variables of this process for the handler."""
    from functions.aws_lambda.emulator import make_server

    with moto_server() as endpoint:
        stack = stack_for_folder(data_dir, endpoint)
        saved = {k: os.environ.get(k) for k in stack.env}
        os.environ.update(stack.env)
        from functions.aws_lambda import handler as lambda_handler

        lambda_handler.reset()
        mirror = folder_mirror(data_dir, stack)
        mirror.push()

        def invoke(event: dict[str, Any], context: Any) -> Any:
            mirror.push()
            try:
                return lambda_handler.handler(event, context)
            finally:
                mirror.pull()

        server = make_server(invoke, host, port)
        try:
            yield server
        finally:
            server.server_close()
            mirror.pull()
            lambda_handler.reset()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


class LambdaWallet(WebhookDriver):
    """A wallet in a (moto) stack, driven through the real Lambda handler the way the
    watcher drives a Function URL: a signed webhook, as a payload-2.0 event."""

    def __init__(self, stack: Stack, watcher_secret: bytes, mnemonic: str = "") -> None:
        self.stack = stack
        self.watcher_secret = watcher_secret
        self.mnemonic = mnemonic

    @classmethod
    def create(cls, endpoint_url: str, mint_url: str, data_dir: Path | None = None) -> LambdaWallet:
        """A cashu wallet made by create_local_wallet (in `data_dir`, or a private temporary
        folder) and seeded into a new stack, as `nwc-signer dev --runtime lambda` does."""
        import tempfile

        from nwc_signer.wallet import create_local_wallet

        with contextlib.ExitStack() as scratch:
            if data_dir is None:
                data_dir = Path(scratch.enter_context(tempfile.TemporaryDirectory())) / "w"
            made = create_local_wallet(data_dir, backend="cashu", mint_url=mint_url,
                                       relays=["ws://127.0.0.1:1"])  # fmt: skip
            assert made.watcher_secret is not None  # no outside watcher named
            stack = stack_for_folder(data_dir, endpoint_url)
            folder_mirror(data_dir, stack).push()
        return cls(stack, made.watcher_secret, made.mnemonic)

    def admin(self) -> Any:
        from functions.aws_lambda.admin import AwsWallet

        return AwsWallet(self.stack.settings(), _EndpointSession(self.stack))

    def root_secret_hex(self) -> str:
        sm = self.stack.client("secretsmanager")
        return str(sm.get_secret_value(SecretId=self.stack.env["ROOT_SECRET_ID"])["SecretString"])

    def add_app(self, name: str = "app", encryption: str | None = "nip44_v2", **opts: Any) -> Any:
        from nwc_signer.dev.nwc_app import NwcApp

        uri = self.admin().add_connection(name, ["ws://127.0.0.1:1"], **opts)
        return NwcApp.from_uri(uri, encryption)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """One invocation of the handler with this stack's environment."""
        from functions.aws_lambda import handler as lambda_handler
        from functions.aws_lambda.emulator import FakeContext

        with _environment(self.stack.env):
            result: dict[str, Any] = lambda_handler.handler(event, FakeContext())
        return result

    def post(self, headers: dict[str, str], body: bytes) -> Any:
        from functions.aws_lambda.emulator import function_url_event, http_response
        from signer_core.protocol.webhook import parse_response

        h = {"Content-Type": "application/json", **headers}
        status, out_headers, out = http_response(
            self.invoke(function_url_event("POST", "/", "", h, body))
        )
        return parse_response(status, out_headers, out)


class _EndpointSession:
    """A boto3 session whose clients talk to the stack's endpoint (moto)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def client(self, service: str) -> Any:
        return self.stack.client(service)


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    if all(os.environ.get(k) == v for k, v in env.items()):
        yield  # already set (threads of one test share it): no swapping underneath them
        return
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def lambda_runtime(data_dir: Path, port: int, cold: bool = False) -> Iterator[str]:
    """`nwc-signer dev --runtime lambda` (nwc_signer.dev.runtimes): serves the real
    handler on 127.0.0.1:port in a thread; yields the URL the watcher posts to. `cold`
    rebuilds the handler's runtime (clients, secret) for every request."""
    with lambda_function(data_dir, port) as server:
        if cold:
            from functions.aws_lambda import handler as lambda_handler

            inner = server.RequestHandlerClass._invoke

            def cold_invoke(self: Any, method: str) -> None:
                lambda_handler.reset()
                inner(self, method)

            server.RequestHandlerClass._invoke = cold_invoke
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{port}/"
        finally:
            server.shutdown()
            thread.join(timeout=10)
