"""Fixtures for the command-line tests: run `maytrain` as a subprocess in a temporary directory.

The installed `maytrain` script next to the interpreter is preferred; until the project is
installed, `python -m sidecar.cli` with the checkout on PYTHONPATH runs the same code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import sidecar

CHECKOUT = Path(sidecar.__file__).resolve().parent.parent


def maytrain_command() -> tuple[list[str], dict[str, str]]:
    """The command line that runs maytrain, and the environment additions it needs."""
    script = Path(sys.executable).with_name("maytrain")
    if script.exists():
        return [str(script)], {}
    path = os.pathsep.join(filter(None, [str(CHECKOUT), os.environ.get("PYTHONPATH")]))
    return [sys.executable, "-m", "sidecar.cli"], {"PYTHONPATH": path}


class Result:
    """A finished run: exit code, stdout, stderr, and stdout parsed as JSON on demand."""

    def __init__(self, done: subprocess.CompletedProcess) -> None:
        self.code, self.out, self.err = done.returncode, done.stdout, done.stderr

    def json(self) -> Any:
        """stdout as JSON (for --json runs)."""
        return json.loads(self.out)


@pytest.fixture
def maytrain(tmp_path: Path) -> Callable[..., Result]:
    """Runs `maytrain ARGS...` with tmp_path as the working directory and a clean environment."""
    command, extra = maytrain_command()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAYTRAIN_")}
    env.update(extra)

    def run(*args: str, stdin: str = "", **environment: str) -> Result:
        done = subprocess.run([*command, *args], cwd=tmp_path, input=stdin, text=True,
                              capture_output=True, env={**env, **environment}, timeout=60)
        return Result(done)

    return run


@pytest.fixture
def initialized(maytrain: Callable[..., Result]) -> Callable[..., Result]:
    """`maytrain` with a store already created in the working directory."""
    assert maytrain("store", "init").code == 0
    return maytrain
