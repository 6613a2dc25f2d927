"""`maytrain serve` logs its effective settings at start-up: the policy's max_staleness when
no flag or variable set one (not None), with one serving process or a supervisor of several."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from conftest import maytrain_command

from sidecar.policy_files import load_policy


def settings_line(tmp_path, *flags: str) -> str:
    command, extra = maytrain_command()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAYTRAIN_")}
    store = f"sqlite:///{tmp_path}/consent.db"
    subprocess.run([*command, "store", "init", "--store", store], check=True, timeout=60,
                   capture_output=True, env={**env, **extra})
    with subprocess.Popen([*command, "serve", "--store", store, "--listen", "127.0.0.1:0",
                           *flags], cwd=tmp_path, text=True, stderr=subprocess.PIPE,
                          stdout=subprocess.DEVNULL, env={**env, **extra}) as process:
        assert process.stderr is not None
        try:
            for line in process.stderr:
                if " settings: " in line:
                    return line
            raise AssertionError("serve ended without logging its settings")
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_settings_log_shows_the_policys_max_staleness(tmp_path, workers) -> None:
    line = settings_line(tmp_path, "--workers", workers)
    assert f"max_staleness={load_policy().max_staleness_seconds}," in line
    assert f"workers={workers}," in line


def test_the_settings_log_shows_a_max_staleness_flag_over_the_policy(tmp_path) -> None:
    assert "max_staleness=7.0," in settings_line(tmp_path, "--workers", "1",
                                                 "--max-staleness", "7")
