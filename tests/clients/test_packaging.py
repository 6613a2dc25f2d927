"""Tests that both distributions, the client's and the sidecar's, ship the LICENSE (wheel and
sdist) and the protos, and carry what the package index shows: Project-URLs, and a README
whose links work there (absolute, as the index serves no file of the repository)."""

import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email import message_from_bytes
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


# What the package index shows beside each distribution.
PROJECT_URLS = ("Homepage", "Documentation", "Source", "Issues")
# A Markdown link's target: inline [text](target) or a reference definition [label]: target.
LINK_TARGETS = re.compile(r"\]\(\s*<?([^)\s>]+)|^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)


def copy_project(project: Path, entries: tuple[str, ...], work: Path) -> Path:
    """Copy `entries` of `project` to work/source and return that folder."""
    source = work / "source"
    source.mkdir()
    for name in entries:
        if (project / name).is_dir():
            shutil.copytree(project / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(project / name, source / name)
    return source


def build_wheel(project: Path, entries: tuple[str, ...], work: Path) -> Path:
    """Build a wheel of a copy of `project` (only `entries`), offline, and return its path."""
    source, out = copy_project(project, entries, work), work / "wheel"
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


def build_sdist(project: Path, entries: tuple[str, ...], work: Path) -> Path:
    """Build an sdist of a copy of `project` with setuptools' own build hook, offline."""
    source, out = copy_project(project, entries, work), work / "sdist"
    hook = f"from setuptools import build_meta; build_meta.build_sdist({str(out)!r})"
    done = subprocess.run([sys.executable, "-c", hook], cwd=source, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (sdist,) = out.glob("*.tar.gz")
    return sdist


def metadata(opened: zipfile.ZipFile):
    (name,) = [n for n in opened.namelist() if n.endswith(".dist-info/METADATA")]
    return message_from_bytes(opened.read(name))


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


def test_wheel_names_the_project_urls(wheel):
    _, opened = wheel
    urls = dict(entry.split(", ", 1) for entry in metadata(opened).get_all("Project-URL") or [])

    assert set(urls) == set(PROJECT_URLS)
    assert all(url.startswith("https://") for url in urls.values()), urls


def test_readme_links_work_on_the_package_index(wheel):
    _, opened = wheel
    description = metadata(opened).get_payload()
    targets = [inline or reference for inline, reference in LINK_TARGETS.findall(description)]

    assert targets, "the long description should be the README, with its links"
    relative = [t for t in targets if not t.startswith(("https://", "http://", "#", "mailto:"))]
    assert relative == [], "the package index cannot resolve these relative links"


@pytest.mark.parametrize("kind", sorted(SOURCES), ids=lambda kind: f"sdist={kind}")
def test_sdist_ships_the_license(kind, tmp_path):
    project, entries = SOURCES[kind]
    with tarfile.open(build_sdist(project, entries, tmp_path)) as opened:
        (license_name,) = [n for n in opened.getnames() if n.count("/") == 1 and n.endswith("/LICENSE")]
        shipped = opened.extractfile(license_name).read()

    assert shipped == (REPO / "LICENSE").read_bytes()
