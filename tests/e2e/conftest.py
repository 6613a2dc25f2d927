"""Fixtures that start real sidecars (see tests/running_sidecar.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from running_sidecar import Launcher, RunningSidecar


@pytest.fixture
def start_sidecar(tmp_path: Path) -> Iterator[Launcher]:
    """Start sidecars on a fresh sample store in tmp_path; all stopped after the test."""
    launcher = Launcher(tmp_path)
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Iterator[RunningSidecar]:
    """One sidecar for a module's read-only tests."""
    launcher = Launcher(tmp_path_factory.mktemp("shared"))
    yield launcher()
    launcher.stop_all()
