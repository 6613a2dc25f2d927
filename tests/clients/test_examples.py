"""The plain-Python example runs against the real sidecar, as a user would run it."""

from __future__ import annotations

import json
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
