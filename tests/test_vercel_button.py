"""The "Deploy with Vercel" button (docs/vercel-deploy.md): its URL, the folder it builds
from and the files the clone flow needs agree with each other and with the function.

Vercel cannot be reached from here, so the clone flow is checked by its parts: the URL's
parameters; the Root Directory (functions/vercel) holding what Vercel's Python builder looks
for there (entry, .python-version, the manifest it prefers); the manifest's pins equal to
the API deploy's requirements.txt; its path dependency really building signer_core into an
installable package from a copy of the repository (what the builder's `uv sync` installs and
bundles); and the function, loaded from that folder with that package, answering 503
"not configured" with exactly the variables the button does not ask for.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from deploy.vercel import bundle

ROOT = Path(__file__).resolve().parents[1]
VERCEL_PYTHONS = {"3.12", "3.13", "3.14"}  # vercel.com/docs/functions/runtimes/python


def _query(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "vercel.com", "/new/clone")
    return {k: v[0] for k, v in parse_qs(parts.query, strict_parsing=True).items()}


def _pins(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[name.strip().lower()] = version.strip()
    return out


def _manifest() -> dict[str, object]:
    return tomllib.loads((ROOT / bundle.BUTTON_ROOT / bundle.BUTTON_MANIFEST).read_text())


def test_the_url_names_a_root_directory_that_holds_the_function() -> None:
    q = _query(bundle.button_url("https://github.com/OWNER/REPO"))
    assert q["repository-url"] == "https://github.com/OWNER/REPO"
    assert q["envLink"] == "https://github.com/OWNER/REPO/blob/main/docs/vercel-deploy.md"
    assert q["project-name"] == q["repository-name"] == "nwc-signer"
    root = ROOT / q["root-directory"]
    assert root.is_dir() and root != ROOT  # nothing of Vercel's at the repository root
    for name in (*bundle.BUTTON_FILES, *bundle.ENTRY_FILES):
        assert (root / name).is_file(), name
    assert not (ROOT / ".python-version").exists()  # the repository's own tooling stays 3.11
    # the entry and the API deploy use the same folder
    assert root == bundle.ENTRY_DIR


def test_the_env_asked_plus_what_the_deploy_sets_is_what_the_function_reads() -> None:
    """The button asks for WATCHER_PUBKEY only; `deploy vercel --project` sets the others;
    together they are the function's required variables, and none is a secret in a URL."""
    import importlib.util

    # by file path under a name of its own (other tests load other api/webhook.py files)
    spec = importlib.util.spec_from_file_location(
        "nwc_button_webhook", ROOT / bundle.BUTTON_ROOT / bundle.ENTRYPOINT
    )
    assert spec is not None and spec.loader is not None
    webhook = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = webhook  # its dataclasses look their module up there
    spec.loader.exec_module(webhook)
    q = _query(bundle.button_url("https://github.com/OWNER/REPO"))
    asked = tuple(q["env"].split(","))
    assert asked == bundle.BUTTON_ENV
    assert "ROOT_SECRET" not in q["env"] and "TOKEN" not in q["env"]
    optional = {"VERCEL_BLOB_API_URL", "NWC_SIGNER_BLOB_STORE_URL"}  # only the local fake's
    assert set(asked) | set(bundle.SET_BY_DEPLOY) == set(webhook.ENV_NAMES) - optional
    assert "deploy vercel --project" in q["envDescription"]
    # each required variable, missing alone, is named by the function's answer
    full = {"ROOT_SECRET": "11" * 32, "WATCHER_PUBKEY": "22" * 32, "WALLET_ID": "w1",
            "BLOB_READ_WRITE_TOKEN": "vercel_blob_rw_store1_secret"}  # fmt: skip
    for name in full:
        env = {k: v for k, v in full.items() if k != name}
        with pytest.raises(webhook.SettingsError, match=f"not configured: {name}"):
            webhook.Runtime.from_env(env)


def test_the_manifest_pins_the_same_packages_and_python_as_the_api_deploy() -> None:
    folder = ROOT / bundle.BUTTON_ROOT
    data = _manifest()
    project = data["project"]
    assert isinstance(project, dict)
    deps = list(project["dependencies"])
    requirements = _pins((folder / "requirements.txt").read_text().splitlines())
    assert _pins(deps) == requirements  # one set of pins for both deploy paths
    version = (folder / ".python-version").read_text().strip()
    assert version in VERCEL_PYTHONS
    assert project["requires-python"] == f"~={version}.0"
    # the repository root as a non-editable path dependency, and it is the package that
    # carries signer_core
    assert "nwc-signer" in deps
    source = data["tool"]["uv"]["sources"]["nwc-signer"]  # type: ignore[index]
    assert source == {"path": "../..", "editable": False}
    target = (folder / source["path"]).resolve()
    assert target == ROOT
    root = tomllib.loads((target / "pyproject.toml").read_text())
    assert root["project"]["name"] == "nwc-signer"
    assert "signer_core*" in root["tool"]["setuptools"]["packages"]["find"]["include"]
    assert "workspace" not in root.get("tool", {}).get("uv", {})  # the folder stays its own project


def _clone(dest: Path) -> Path:
    """What the clone flow copies: the repository's files (tracked or new, not ignored)."""
    names = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file() and not name.startswith(("docs/screenshots/", "tests/fixtures/")):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest / name)
    return dest


def test_the_clone_builds_signer_core_into_the_function_and_it_asks_to_be_configured(
    tmp_path: Path,
) -> None:
    """The path dependency, built from a clone as the builder's uv does (a wheel of the
    repository root, installed non-editable), gives the function its signer_core; the
    function, run from the Root Directory with only WATCHER_PUBKEY (what the button sets),
    answers 503 naming ROOT_SECRET and WALLET_ID and the command that sets them."""
    clone = _clone(tmp_path / "clone")
    folder = clone / bundle.BUTTON_ROOT
    source = _manifest()["tool"]["uv"]["sources"]["nwc-signer"]  # type: ignore[index]
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(wheels), str((folder / source["path"]).resolve())],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = wheels.glob("nwc_signer-*.whl")
    with zipfile.ZipFile(wheel) as z:
        assert "signer_core/pipeline.py" in z.namelist()
    vendor = tmp_path / "_vendor"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(vendor),
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    code = (
        "import sys, json, threading, httpx\n"
        f"sys.path[0:0] = ['.', {str(vendor)!r}]\n"
        "from nwc_signer.dev.vercel import make_server\n"
        "server = make_server('.', '127.0.0.1', 0)\n"
        "threading.Thread(target=server.serve_forever, daemon=True).start()\n"
        "res = httpx.post(f'http://127.0.0.1:{server.server_address[1]}/api/webhook',"
        " content=b'{}')\n"
        "import signer_core\n"
        "print(json.dumps({'status': res.status_code, 'body': res.json(),"
        " 'core': signer_core.__file__}))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "WATCHER_PUBKEY": "22" * 32}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, env=env, check=True, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["core"].startswith(str(vendor))  # from the installed package, not the repo
    assert seen["status"] == 503
    message = seen["body"]["message"]
    assert "ROOT_SECRET, WALLET_ID not set" in message
    assert "nwc-signer deploy vercel --project" in message


def test_deploy_into_a_button_made_project_builds_from_its_root_directory(
    tmp_path: Path,
) -> None:
    """The button's project builds from functions/vercel; `deploy vercel --project` then puts
    the same files under that folder (and leaves the project's settings alone), so the
    build finds the entry there and the deployment is READY with the wallet's variables."""
    import uuid

    from deploy.vercel import steps
    from deploy.vercel.api import Api
    from tests.test_deploy_vercel import TOKEN, no_sleep, quiet, target
    from tests.vercel_api import FakeVercel, Project

    with FakeVercel(token=TOKEN) as fake:
        made = Project("prj_" + uuid.uuid4().hex[:24], "nwc-signer", None)
        made.root_directory = bundle.BUTTON_ROOT  # what the clone flow's root-directory set
        fake.projects[made.name] = made
        done = steps.deploy(
            Api(TOKEN, base_url=fake.base_url),
            target(tmp_path, bundle.ENTRY_DIR, fake),
            say=quiet,
            sleep=no_sleep,
        )
        (dep,) = made.deployments
        assert dep.state == "READY" and "api/webhook.py" in dep.files
        assert {"ROOT_SECRET", "WALLET_ID", "WATCHER_PUBKEY"} <= set(dep.env)
        assert done.url == "https://nwc-signer.vercel.app/api/webhook"
