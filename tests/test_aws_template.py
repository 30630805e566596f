"""template.yaml validated offline: cfn-lint on the SAM form and on its translation
(aws-sam-translator, no AWS call), plus the properties the issue asks for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy.aws import template


@pytest.fixture(scope="module")
def translated() -> dict:
    return template.translate(template.load())


def test_cfn_lint_is_clean_on_both_forms(tmp_path: Path) -> None:
    assert template.check(tmp_path) == []
    assert (tmp_path / "template.translated.json").exists()


def test_cfn_lint_would_catch_a_broken_template(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = template.TEMPLATE.read_text().replace("Bucket: !Ref StateBucket", "Bucket: !Ref Nope")
    broken.write_text(text)
    code, report = template.lint(broken)
    assert code != 0 and "Nope" in report


def _of_type(t: dict, kind: str) -> dict:
    return {k: v for k, v in t["Resources"].items() if v["Type"] == kind}


def test_function_url_and_both_permissions_for_each_auth_type(translated: dict) -> None:
    (fn,) = _of_type(translated, "AWS::Lambda::Function").values()
    props = fn["Properties"]
    assert props["Runtime"] == "python3.13" and props["Architectures"] == ["arm64"]
    assert props["Handler"] == "functions.aws_lambda.handler.handler"
    assert "ReservedConcurrentExecutions" not in json.dumps(translated)
    (url,) = _of_type(translated, "AWS::Lambda::Url").values()
    assert url["Properties"]["AuthType"] == {"Ref": "FunctionUrlAuthType"}
    perms = _of_type(translated, "AWS::Lambda::Permission").values()
    by_condition: dict[str, set[str]] = {}
    for perm in perms:
        by_condition.setdefault(perm.get("Condition", "-"), set()).add(perm["Properties"]["Action"])
    both = {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    assert by_condition == {"PublicUrl": both, "IamUrl": both}
    assert translated["Outputs"]["FunctionUrl"]["Value"] == {
        "Fn::GetAtt": ["SignerFunctionUrl", "FunctionUrl"]
    }


def test_state_bucket_table_and_secret(translated: dict) -> None:
    res = translated["Resources"]
    bucket = res["StateBucket"]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    p = bucket["Properties"]
    assert p["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(p["PublicAccessBlockConfiguration"].values())
    assert p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    stmt = res["StateBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert stmt["Effect"] == "Deny" and stmt["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    table = res["IdempotencyTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    gen = res["RootSecret"]["Properties"]["GenerateSecretString"]
    assert gen["PasswordLength"] == 64 and gen["ExcludeUppercase"] and gen["ExcludePunctuation"]
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789") - set(gen["ExcludeCharacters"])
    assert allowed == set("0123456789abcdef")
    env = res["SignerFunction"]["Properties"]["Environment"]["Variables"]
    for name in ("WATCHER_PUBKEY", "STATE_BUCKET", "TABLE_NAME", "ROOT_SECRET_ID", "WALLET_ID"):
        assert name in env
    for name in ("WatcherPubkey", "WatcherUrl", "Relays", "Backend", "MintUrl"):
        assert name in translated["Parameters"]


def test_quick_create_link_and_a_clear_error_without_credentials(monkeypatch) -> None:
    import boto3

    from deploy.aws import stack

    link = stack.quick_create_link("eu-west-1", {"WatcherPubkey": "ab" * 32, "MintUrl": ""})
    assert link.startswith("https://eu-west-1.console.aws.amazon.com/cloudformation/home")
    assert "nwc-signer-artifacts-eu-west-1.s3.eu-west-1.amazonaws.com" in link
    assert "param_WatcherPubkey=" + "ab" * 32 in link and "param_MintUrl" not in link
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(stack.DeployError, match="no AWS credentials"):
        stack.deploy(boto3.session.Session(region_name="us-east-1"), "s", "{}", {}, say=print)


@pytest.mark.parametrize(
    "given", [[], ["--artifact-bucket", "mine"], ["--watcher-pubkey", "ab" * 32]]
)
def test_deploy_aws_stack_names_its_missing_options_before_building(
    tmp_path: Path, given: list[str]
) -> None:
    """`--artifact-bucket` existed in the README and in the code path, not in the parser: the
    command died with an AttributeError after building the bundle."""
    from nwc_signer.dev.harness import run_cli

    code, out, err = run_cli("deploy", "aws", "stack", "--out", str(tmp_path / "b"), *given)
    assert code == 2 and "--watcher-pubkey and --artifact-bucket are required" in err
    assert not (tmp_path / "b").exists()  # refused before building anything
