"""template.yaml offline: load it (CloudFormation short-form tags), translate it with
aws-sam-translator exactly as the SAM transform would, and lint both forms with cfn-lint.
No AWS call: the managed-policy loader is a fixed map (the template names none)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """Parse YAML with !Ref/!Sub/!GetAtt... the way CloudFormation does (cfn-lint's parser)."""
    from cfnlint.decode import cfn_yaml  # type: ignore[import-untyped]

    data: dict[str, Any] = cfn_yaml.load(str(path))
    plain: dict[str, Any] = json.loads(json.dumps(data))  # drop line-number node types
    return plain


class _OfflinePolicies:
    """Stands in for the IAM ListPolicies call the translator makes for named policies."""

    def load(self) -> dict[str, str]:
        return {
            "AWSLambdaBasicExecutionRole": (
                "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
            )
        }


def translate(template: dict[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """The plain CloudFormation the SAM transform produces (no AWS call)."""
    import os

    from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    params = {"AWS::Region": region, "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    out: dict[str, Any] = transform(template, params, _OfflinePolicies())
    plain: dict[str, Any] = json.loads(json.dumps(out))
    return plain


def lint(path: Path) -> tuple[int, str]:
    """cfn-lint's exit code and report for one file (0 = clean)."""
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def check(out_dir: Path) -> list[str]:
    """Lint template.yaml and its translation (written to out_dir); the problems found."""
    problems = []
    code, report = lint(TEMPLATE)
    if code != 0:
        problems.append(f"cfn-lint template.yaml (exit {code}):\n{report}")
    translated = out_dir / "template.translated.json"
    translated.write_text(json.dumps(translate(load()), indent=1))
    code, report = lint(translated)
    if code != 0:
        problems.append(f"cfn-lint on the SAM-translated template (exit {code}):\n{report}")
    return problems


def main() -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        problems = check(Path(tmp))
    for problem in problems:
        print(problem, file=sys.stderr)
    print("template.yaml: cfn-lint clean in SAM and translated form" if not problems else "")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
