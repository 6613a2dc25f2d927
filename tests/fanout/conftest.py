"""Fixtures for the relay and its NATS followers: the shared server with a stream per test
(deleted after), and relays and followers that are stopped when the test ends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fanout_support import Running
from nats_support import delete_stream, shared_url, unique_stream

from sidecar.fanout.wire import Names


@pytest.fixture
def nats_url() -> str:
    return shared_url()


@pytest.fixture
def names(nats_url: str) -> Iterator[Names]:
    stream = unique_stream()
    yield Names(stream)
    delete_stream(nats_url, stream)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    started = Running(tmp_path)
    yield started
    started.stop()
