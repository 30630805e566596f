"""Deploy one user's signer: quick-create link, direct CloudFormation deploy with the user's
credentials (boto3), wallet creation in the new stack, registration with the watcher."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable
from typing import Any

ARTIFACT_PREFIX = "nwc-signer-artifacts"
VERSION = "0.1.0"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
_FAILED = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE",
           "UPDATE_ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED")  # fmt: skip


class DeployError(Exception):
    """A deploy failure, worded for the user (printed as one line by the CLI)."""


def artifact_key(version: str = VERSION) -> str:
    return f"nwc-signer/{version}/function-arm64.zip"


def template_url(region: str, version: str = VERSION) -> str:
    """Published per region (the bundle must sit in the same region as the function)."""
    return f"https://{ARTIFACT_PREFIX}-{region}.s3.{region}.amazonaws.com/nwc-signer/{version}/template.yaml"


def quick_create_link(region: str, params: dict[str, str], stack: str = "nwc-signer") -> str:
    query = {"templateURL": template_url(region), "stackName": stack}
    query.update({f"param_{k}": v for k, v in params.items() if v})
    return (
        f"https://{region}.console.aws.amazon.com/cloudformation/home?region={region}"
        f"#/stacks/quickcreate?{urllib.parse.urlencode(query)}"
    )


def _client_error(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    err = response.get("Error", {})
    return f"{err.get('Code', type(exc).__name__)}: {err.get('Message', exc)}"


def deploy(
    session: Any,
    stack: str,
    template_body: str,
    params: dict[str, str],
    *,
    say: Callable[[str], None] = print,
    poll_s: float = 5.0,
    timeout_s: float = 1800,
) -> dict[str, str]:
    """Create or update the stack, print each new stack event, return its outputs."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        cfn = session.client("cloudformation")
        cfn_params = [{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()]
        try:
            cfn.describe_stacks(StackName=stack)
            exists = True
        except ClientError as exc:
            if "does not exist" not in str(exc):
                raise
            exists = False
        started = time.time()
        args = dict(StackName=stack, TemplateBody=template_body, Parameters=cfn_params,
                    Capabilities=CAPABILITIES)  # fmt: skip
        try:
            if exists:
                cfn.update_stack(**args)
                say(f"updating stack {stack}")
            else:
                cfn.create_stack(**args)
                say(f"creating stack {stack}")
        except ClientError as exc:
            if "No updates are to be performed" in str(exc):
                say(f"stack {stack} is already up to date (no changes)")
                return _outputs(cfn, stack)
            raise
        seen: set[str] = set()
        while True:
            events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
            for ev in reversed(events):
                if ev["EventId"] in seen or ev["Timestamp"].timestamp() < started - 5:
                    continue
                seen.add(ev["EventId"])
                reason = (
                    f" ({ev['ResourceStatusReason']})" if ev.get("ResourceStatusReason") else ""
                )
                say(f"  {ev['LogicalResourceId']}: {ev['ResourceStatus']}{reason}")
            status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
            if status.endswith("_COMPLETE") and "ROLLBACK" not in status:
                return _outputs(cfn, stack)
            if status in _FAILED or "ROLLBACK" in status and status.endswith("COMPLETE"):
                raise DeployError(f"stack {stack} failed: {status} (see the events above)")
            if time.time() - started > timeout_s:
                raise DeployError(f"stack {stack} still {status} after {timeout_s:.0f} s")
            time.sleep(poll_s)
    except NoCredentialsError:
        raise DeployError(
            "no AWS credentials: configure a profile (aws configure) or set AWS_PROFILE"
        ) from None
    except ClientError as exc:
        raise DeployError(f"CloudFormation refused: {_client_error(exc)}") from None
    except BotoCoreError as exc:
        raise DeployError(f"cannot reach AWS: {exc}") from None


def _outputs(cfn: Any, stack: str) -> dict[str, str]:
    found = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in found}


def upload_bundle(session: Any, bucket: str, key: str, zip_path: str) -> None:
    session.client("s3").upload_file(zip_path, bucket, key)


def register(wallet: Any, watcher_url: str, function_url: str, relays: list[str]) -> Any:
    """Register the wallet's connection keys with the watcher (relay_watcher's signed API)."""
    import httpx

    from relay_watcher import registration
    from signer_core.crypto.secp import xonly_pubkey
    from signer_core.vault import keys, sealed

    secrets = wallet._secrets()
    store, _ = wallet._stores()
    found = store.read()
    services = []
    if found is not None:
        for spk, wrap in sealed.parse(found[0]).wraps.items():
            secret = keys.service_secret(secrets.root_secret, wrap.connection_id)
            if xonly_pubkey(secret).hex() == spk:
                services.append(secret)
    reg = keys.registration_secret(secrets.root_secret, wallet.settings.wallet_id)
    headers, body = registration.build(
        reg, now=int(time.time()), function_url=function_url, relays=relays,
        service_secrets=services,
    )  # fmt: skip
    res = httpx.put(watcher_url.rstrip("/") + "/v1/wallets", content=body, headers=headers,
                    timeout=15)  # fmt: skip
    if res.status_code != 200:
        raise DeployError(f"the watcher refused the registration: HTTP {res.status_code}")
    return res.json()
