"""Tests that mypy --strict passes on the client and really reads the maytrain.v1 stubs."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "clients" / "python" / "maytrain" / "client"
# A deliberate mistake that only the generated .pyi stubs can catch.
PROBE = "from maytrain.v1 import consent_pb2 as pb\n\npb.Record(account_id=5)\n"


@pytest.fixture(scope="module")
def mypy_report(tmp_path_factory):
    """mypy --strict's report on the client package and the probe, in one run."""
    probe = tmp_path_factory.mktemp("mypy") / "stub_probe.py"
    probe.write_text(PROBE)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", str(REPO / "pyproject.toml"),
         "--cache-dir", str(probe.parent / "cache"), str(CLIENT), str(probe)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    return done.stdout + done.stderr


def test_client_passes_mypy_strict(mypy_report):
    client_errors = [line for line in mypy_report.splitlines() if "maytrain/client" in line]
    assert not client_errors, mypy_report


def test_mypy_checks_calls_against_the_generated_stubs(mypy_report):
    assert 'Argument "account_id" to "Record" has incompatible type "int"' in mypy_report, mypy_report
