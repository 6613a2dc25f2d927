"""Failing closed: without an answer from the sidecar no record is ever allowed — each is
denied with DENIED_UNAVAILABLE, or SidecarUnavailable is raised when asked for."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from counting_server import CountingServer
from running_sidecar import free_port
from sample_cases import ALLOWED, mixed

from maytrain.client import (
    Reason,
    RequestRejected,
    RetryPolicy,
    SidecarUnavailable,
    Verdict,
    read_manifest,
)

QUICK = {"timeout": 0.3, "retry": RetryPolicy(max_attempts=2, initial_backoff=0.01,
                                              max_backoff=0.01)}


def nowhere(listener: str, tmp_path: Path) -> str:
    """An address nobody listens on."""
    return f"127.0.0.1:{free_port()}" if listener == "tcp" else f"unix:{tmp_path / 'none.sock'}"


@pytest.fixture
def server(tmp_path):
    servers: list[CountingServer] = []

    def start(**options) -> CountingServer:
        servers.append(CountingServer(tmp_path, **options))
        return servers[-1]

    yield start
    for started in servers:
        started.stop()


def test_with_no_sidecar_every_record_is_denied_as_unavailable(connect, kind, tmp_path) -> None:
    client = connect(target=nowhere(kind[1], tmp_path), **QUICK)
    one = client.check(ALLOWED)
    assert (one.verdict, one.reason) == (Verdict.DENY, Reason.DENIED_UNAVAILABLE)
    assert not one.allowed
    assert one.consent_version == 0 and "no answer from the sidecar at" in one.explanation
    assert {d.reason for d in client.check_many(mixed(20))} == {Reason.DENIED_UNAVAILABLE}
    manifest = tmp_path / "manifest.jsonl"
    assert list(client.filter(mixed(30), manifest=manifest)) == []
    assert [e["reason"] for e in read_manifest(manifest)] == ["DENIED_UNAVAILABLE"] * 30


def test_without_wait_for_ready_a_missing_sidecar_is_denied_after_retries_not_the_deadline(
        connect, kind, tmp_path) -> None:
    client = connect(target=nowhere(kind[1], tmp_path), wait_for_ready=False, timeout=60,
                     retry=QUICK["retry"])

    started = time.monotonic()
    assert client.check(ALLOWED).reason == Reason.DENIED_UNAVAILABLE
    assert time.monotonic() - started < 10


def test_asked_to_raise_the_client_raises_instead_of_denying(connect, kind, tmp_path) -> None:
    client = connect(target=nowhere(kind[1], tmp_path), on_unavailable="raise", **QUICK)
    with pytest.raises(SidecarUnavailable, match="no answer from the sidecar at"):
        client.check(ALLOWED)
    with pytest.raises(SidecarUnavailable):
        client.check_many(mixed(3))
    with pytest.raises(SidecarUnavailable):
        list(client.filter(mixed(3)))


def test_a_stalled_stream_is_given_up_at_its_deadline_and_denied(connect, server, tmp_path) -> None:
    stalling = server(stall_streams=True)
    client = connect(stalling, **QUICK)
    assert list(client.filter(mixed(10), manifest=tmp_path / "m.jsonl")) == []
    assert {e["reason"] for e in read_manifest(tmp_path / "m.jsonl")} == {"DENIED_UNAVAILABLE"}
    assert stalling.calls["CheckStream"] == 1  # the chunk's 0.3 s covers its retries too


def test_filter_with_no_sidecar_gives_up_within_its_timeout(connect, kind, tmp_path) -> None:
    client = connect(target=nowhere(kind[1], tmp_path), timeout=1.0)  # 5 attempts by default
    started = time.monotonic()
    assert list(client.filter(mixed(30), manifest=tmp_path / "m.jsonl")) == []
    assert time.monotonic() - started < 2.5  # retries and reconnects within the one second
    assert {e["reason"] for e in read_manifest(tmp_path / "m.jsonl")} == {"DENIED_UNAVAILABLE"}


def test_an_answer_that_does_not_fit_the_request_is_no_answer(connect, server) -> None:
    client = connect(server(drop_decisions=True))
    assert {d.reason for d in client.check_many(mixed(4))} == {Reason.DENIED_UNAVAILABLE}


def test_a_call_the_sidecar_refuses_raises_and_is_not_retried(connect, server) -> None:
    refusing = server(fail_first=100, code=grpc.StatusCode.INVALID_ARGUMENT)
    client = connect(refusing)
    with pytest.raises(RequestRejected, match="INVALID_ARGUMENT"):
        client.check(ALLOWED)
    with pytest.raises(RequestRejected):
        client.check_many(mixed(3))
    assert refusing.calls["Check"] == 1 and refusing.calls["CheckBatch"] == 1
