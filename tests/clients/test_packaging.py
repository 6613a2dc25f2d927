"""Tests that both wheels, the client's and the sidecar's, ship the LICENSE and the protos."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "clients" / "python"
PROTO_DIR = REPO / "protos" / "maytrain" / "v1"
PROTOS = sorted(p.name for p in PROTO_DIR.glob("*.proto"))
# What setuptools reads to build each distribution. The build runs on a copy, so it leaves
# no build/ or *.egg-info in the working tree and never reuses a stale build/ directory.
SOURCES = {
    "client": (CLIENT, ("pyproject.toml", "README.md", "LICENSE", "maytrain")),
    "sidecar": (REPO, ("pyproject.toml", "README.md", "LICENSE", "sidecar")),
}
# Where each wheel keeps the .proto files.
PROTO_HOMES = {"client": "maytrain/v1", "sidecar": "sidecar/protos/maytrain/v1"}


def build_wheel(project: Path, entries: tuple[str, ...], work: Path) -> Path:
    """Build a wheel of a copy of `project` (only `entries`), offline, and return its path."""
    source, out = work / "source", work / "wheel"
    source.mkdir()
    for name in entries:
        if (project / name).is_dir():
            shutil.copytree(project / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(project / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
               "--no-index", "--disable-pip-version-check", "--quiet", "-w", str(out), str(source)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="module", params=sorted(SOURCES), ids=lambda kind: f"wheel={kind}")
def wheel(request, tmp_path_factory):
    """(which distribution, its wheel opened), built once per distribution."""
    project, entries = SOURCES[request.param]
    path = build_wheel(project, entries, tmp_path_factory.mktemp(request.param))
    with zipfile.ZipFile(path) as opened:
        yield request.param, opened


def test_client_license_is_a_copy_of_the_repository_license():
    assert (CLIENT / "LICENSE").read_bytes() == (REPO / "LICENSE").read_bytes()


def test_wheel_ships_the_license(wheel):
    _, opened = wheel
    (license_name,) = [n for n in opened.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
    (metadata_name,) = [n for n in opened.namelist() if n.endswith(".dist-info/METADATA")]

    assert opened.read(license_name) == (REPO / "LICENSE").read_bytes()
    assert "License-File: LICENSE" in opened.read(metadata_name).decode().splitlines()


def test_wheel_ships_the_protos_it_was_built_from(wheel):
    kind, opened = wheel
    home = PROTO_HOMES[kind]
    shipped = sorted(n.removeprefix(f"{home}/") for n in opened.namelist()
                     if n.startswith(f"{home}/") and n.endswith(".proto"))

    assert PROTOS and shipped == PROTOS
    for name in PROTOS:
        assert opened.read(f"{home}/{name}") == (PROTO_DIR / name).read_bytes(), name
