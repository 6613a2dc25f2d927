"""Runs buf lint and build over protos/ when the buf CLI is installed (scripts/buf-lint)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCAL_BUF = REPO / ".tools" / "node_modules" / ".bin" / "buf"


def find_buf() -> str:
    """Return the buf CLI to run, skipping (or failing under MAYTRAIN_REQUIRE_BUF) without one."""
    if LOCAL_BUF.exists():
        return str(LOCAL_BUF)
    if found := shutil.which("buf"):
        return found
    message = "buf CLI not installed: run `bash scripts/buf-lint` to install it into .tools/"
    if os.environ.get("MAYTRAIN_REQUIRE_BUF", "") not in ("", "0"):
        pytest.fail(message + " (MAYTRAIN_REQUIRE_BUF is set)")
    pytest.skip(message + "; set MAYTRAIN_REQUIRE_BUF=1 to make this a failure")


@pytest.mark.parametrize("command", ["lint", "build"])
def test_protos_pass_buf(command):
    done = subprocess.run(
        [find_buf(), command], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"buf {command} failed:\n{done.stdout}{done.stderr}"
