"""Fixtures: a SQLite store with the sample data, and in-process sidecars on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from observed_sidecar import InProcess
from running_sidecar import free_port

from sidecar.policy_files import load_policy
from sidecar.runtime import Sidecar
from sidecar.samples import load_sample
from sidecar.settings import resolve
from sidecar.store import open_store


@pytest.fixture
def sample_store(tmp_path: Path) -> str:
    """A SQLite store holding the sample data."""
    url = f"sqlite:///{tmp_path / 'consent.db'}"
    store = open_store(url, create=True, policy=load_policy())
    try:
        load_sample(store, actor="test")
    finally:
        store.close()
    return url


@pytest.fixture
def start(sample_store: str) -> Iterator:
    """start(**flags): a started in-process sidecar on the sample store; stopped after."""
    started: list[InProcess] = []

    def _start(**flags: object) -> InProcess:
        target = f"127.0.0.1:{free_port()}"
        settings = resolve({"store": sample_store, "listen": [target], "shutdown_grace": 1.0,
                            **flags}, env={})
        sidecar = Sidecar(settings, load_policy())
        sidecar.start()
        running = InProcess(sidecar, target)
        started.append(running)
        return running

    yield _start
    for running in started:
        running.stop()
