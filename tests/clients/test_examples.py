"""The examples run against the real sidecar as a user would run them, each in its own
process: the plain-Python one, and the Ray and Hugging Face ones (each engine started as the
script starts it); and the Spark example's local session pinned to loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from client_kinds import EXAMPLES


@pytest.mark.parametrize("listener", ["tcp", "uds"])
def test_the_iterables_example_checks_and_filters_dicts(sidecar, listener) -> None:
    result = subprocess.run([sys.executable, str(EXAMPLES / "check_records.py"),
                             "--target", sidecar.target(listener), "--records", "1400"],
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert "one record: ALLOW ALLOWED_BY_TERMS" in result.stdout
    assert "sample-erased" in result.stdout and "DENIED_ERASURE" in result.stdout
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["filtered"] == 1400 and summary["allowed"] == 500


def run_example(script: str, *args: str, timeout: float = 120) -> dict:
    """Run examples/`script` as a user would; its last line, a JSON summary."""
    result = subprocess.run([sys.executable, str(EXAMPLES / script), *args],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_the_ray_example_filters_on_two_actors_with_a_manifest_each(sidecar, tmp_path) -> None:
    pytest.importorskip("ray")
    summary = run_example("ray_filter.py", "--target", sidecar.tcp, "--records", "1400",
                          "--actors", "2", "--manifests", str(tmp_path))
    assert summary["total"] == 1400 and summary["allowed"] == 500
    assert sum(summary["reasons"].values()) == 1400 and summary["reasons"]["DENIED_ERASURE"] == 200
    assert len(list(tmp_path.glob("manifest-*.jsonl"))) == 2


def test_the_hf_example_filters_a_dataset_and_counts_its_reasons(sidecar, tmp_path) -> None:
    pytest.importorskip("datasets")
    summary = run_example("hf_filter.py", "--target", sidecar.uds, "--records", "1400",
                          "--output", str(tmp_path / "kept"))
    assert summary["total"] == 1400 and summary["allowed"] == 500
    assert summary["reasons"]["ALLOWED_BY_TERMS"] + summary["reasons"]["ALLOWED_BY_CONSENT"] == 500
    assert (tmp_path / "kept" / "dataset_info.json").exists()


class RecordingBuilder:
    """Stands in for SparkSession.builder: records the settings the example makes."""

    def __init__(self) -> None:
        self.settings: dict[str, str] = {}

    def master(self, master: str) -> RecordingBuilder:
        return self.config("master", master)

    def appName(self, name: str) -> RecordingBuilder:  # noqa: N802 - Spark's name
        return self.config("appName", name)

    def config(self, key: str, value: str) -> RecordingBuilder:
        self.settings[key] = value
        return self

    def getOrCreate(self) -> dict[str, str]:  # noqa: N802 - Spark's name
        return self.settings


@pytest.mark.parametrize("master, pinned", [("local[2]", True), ("spark://head:7077", False)])
def test_the_spark_example_pins_a_local_spark_to_loopback(examples, monkeypatch, master,
                                                          pinned) -> None:
    """Without a JVM (the Spark tests run the example's filtering itself)."""
    pytest.importorskip("pyspark")
    example = examples("spark_filter")
    builder = RecordingBuilder()
    monkeypatch.setattr(example.SparkSession, "builder", builder)
    for name in ("SPARK_LOCAL_IP", "PYSPARK_PYTHON"):  # restored after the test
        monkeypatch.delenv(name, raising=False)

    settings = example.session(master)

    loopback = {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
    assert (loopback.items() <= settings.items()) is pinned
    assert (os.environ.get("SPARK_LOCAL_IP") == "127.0.0.1") is pinned
