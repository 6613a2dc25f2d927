"""The package as users get it: a complete __all__, optional dependencies loaded only when
used (with a clear error when missing), and a wheel that needs only grpcio and protobuf."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

import maytrain.client

CLIENT_PROJECT = Path(__file__).resolve().parents[2] / "clients" / "python"


def python(code: str, *path: str) -> subprocess.CompletedProcess:
    prelude = f"import sys; sys.path[:0] = {list(path)!r}\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True,
                          text=True, timeout=60)


def test_all_lists_every_public_name_and_nothing_else() -> None:
    public = {name for name, value in vars(maytrain.client).items()
              if not name.startswith("_") and not isinstance(value, ModuleType)}
    assert public == set(maytrain.client.__all__)
    assert all(hasattr(maytrain.client, name) for name in maytrain.client.__all__)


INTEGRATIONS = ("maytrain.client.jsonl, maytrain.client.arrow, maytrain.client.spark, "
                "maytrain.client.ray, maytrain.client.hf")


def test_importing_the_client_loads_no_optional_dependency() -> None:
    result = python(f"import maytrain.client, {INTEGRATIONS}\n"
                    "print(sorted(m for m in sys.modules if m.split('.')[0] in "
                    "('pyarrow', 'pyspark', 'pandas', 'ray', 'datasets')))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("module, call, extra", [
    ("pyarrow", "maytrain.client.arrow.decide_arrow(None, None)", "arrow"),
    ("pyspark", "maytrain.client.spark.decide_dataframe(None)", "spark"),
    ("ray", "maytrain.client.ray.filter_dataset(None)", "ray"),
    ("datasets", "maytrain.client.hf.filter_dataset(None)", "hf"),
], ids=["arrow", "spark", "ray", "hf"])
def test_a_missing_optional_dependency_names_the_extra_to_install(module, call, extra) -> None:
    result = python(f"sys.modules[{module!r}] = None\n"
                    f"import {INTEGRATIONS}\n"
                    f"try:\n    {call}\nexcept ImportError as e:\n    print(e)")
    assert result.returncode == 0, result.stderr
    assert f"pip install 'maytrain-client[{extra}]'" in result.stdout


def test_the_client_wheel_needs_only_grpcio_and_protobuf(tmp_path) -> None:
    source = tmp_path / "src"
    shutil.copytree(CLIENT_PROJECT, source, ignore=shutil.ignore_patterns(
        "*.egg-info", "build", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True, timeout=120)
    (wheel,) = (tmp_path / "dist").glob("maytrain_client-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names if n.endswith("METADATA"))
    assert {"maytrain/client/__init__.py", "maytrain/client/arrow.py",
            "maytrain/client/spark.py", "maytrain/client/ray.py", "maytrain/client/hf.py",
            "maytrain/v1/consent_pb2.py"} <= names
    required = [line.split(":", 1)[1].strip() for line in metadata.splitlines()
                if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert sorted(r.split(">")[0].split("<")[0].split("=")[0] for r in required) == [
        "grpcio", "protobuf"]
    assert {f"Provides-Extra: {extra}" for extra in ("arrow", "spark", "ray", "hf")} <= set(
        metadata.splitlines())
    extras = {line.split('extra == "')[1].rstrip('"'): line.split(":", 1)[1].split()[0]
              for line in metadata.splitlines()
              if line.startswith("Requires-Dist:") and "extra ==" in line}
    assert extras["ray"].startswith("ray[data]") and extras["hf"].startswith("datasets")
    installed = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(installed), str(wheel)], check=True, capture_output=True,
                   timeout=120)
    result = python("import maytrain.client; print(maytrain.client.__file__)", str(installed))
    assert result.stdout.startswith(str(installed)), result.stderr
