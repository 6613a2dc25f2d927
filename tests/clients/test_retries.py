"""Retries: UNAVAILABLE is retried with backoff by the channel's service config (counted on
the server side), and a sidecar that starts after its client is waited for."""

from __future__ import annotations

import threading
import time

import pytest
from client_kinds import make_client
from counting_server import VERSION, CountingServer
from running_sidecar import Launcher, free_port
from sample_cases import ALLOWED, mixed

from maytrain.client import Reason, RetryPolicy


@pytest.fixture
def failing_twice(tmp_path):
    server = CountingServer(tmp_path, fail_first=2)
    yield server
    server.stop()


def test_unavailable_is_retried_until_the_sidecar_answers(connect, failing_twice) -> None:
    client = connect(failing_twice)
    decision = client.check(ALLOWED)
    assert decision.allowed and decision.consent_version == VERSION
    assert failing_twice.calls["Check"] == 3


def test_check_many_batches_are_retried_too(connect, failing_twice) -> None:
    decisions = connect(failing_twice, max_concurrency=1).check_many(mixed(5))
    assert all(d.allowed for d in decisions)
    assert failing_twice.calls["CheckBatch"] == 3


def test_retries_stop_at_max_attempts_then_the_record_is_denied(connect, tmp_path) -> None:
    server = CountingServer(tmp_path, fail_first=100)
    try:
        retry = RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.05)
        decision = connect(server, retry=retry).check(ALLOWED)
        assert decision.reason == Reason.DENIED_UNAVAILABLE
        assert "UNAVAILABLE" in decision.explanation
        assert server.calls["Check"] == 4
    finally:
        server.stop()


def test_a_sidecar_that_starts_after_its_client_is_waited_for(kind, tmp_path) -> None:
    transport, listener = kind
    launcher, port = Launcher(tmp_path), free_port()
    target = f"127.0.0.1:{port}" if listener == "tcp" else f"unix:{tmp_path / 'late.sock'}"
    late = threading.Thread(target=_start_late, args=(launcher, port))
    try:
        with make_client(transport, target, timeout=20) as client:
            late.start()
            decision = client.check(ALLOWED)
    finally:
        late.join()
        launcher.stop_all()
    assert decision.reason == Reason.ALLOWED_BY_TERMS


def _start_late(launcher: Launcher, port: int) -> None:
    time.sleep(0.5)
    launcher("--listen", f"127.0.0.1:{port}", name="late", wait=False)
