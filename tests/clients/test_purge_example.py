"""examples/purge_parquet.py against its own real sidecar (it writes consent): the training
set is ingested with a Parquet manifest, consent changes, and the purge removes exactly the
records those changes deny."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from client_kinds import EXAMPLES
from running_sidecar import Launcher

pytest.importorskip("pyarrow")


def test_the_purge_example_rewrites_the_training_set_without_the_denied_records(
        tmp_path) -> None:
    launcher = Launcher(tmp_path)
    try:
        sidecar = launcher(name="purge")
        done = subprocess.run([sys.executable, str(EXAMPLES / "purge_parquet.py"), "--target",
                               sidecar.uds, "--store", sidecar.store, "--folder",
                               str(tmp_path / "demo"), "--records", "400"],
                              capture_output=True, text=True, timeout=120)
    finally:
        launcher.stop_all()
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert (summary["before"], summary["purged"], summary["after"]) == (400, 300, 100)
    assert summary["by_reason"] == {"DENIED_OPTED_OUT": 100, "DENIED_ERASURE": 100,
                                    "DENIED_NO_CONSENT": 100}
    assert "400 records before, 100 after" in done.stdout
