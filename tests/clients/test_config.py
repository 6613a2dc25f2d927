"""Client settings: the target's sources and forms, option checks, and the service config
that turns on retries of UNAVAILABLE for the fully qualified service."""

from __future__ import annotations

import json

import pytest

from maytrain.client import DEFAULT_TARGET, ClientConfig, ConsentClient, RetryPolicy
from maytrain.client._config import channel_options, make_config, service_config


def test_the_target_is_the_argument_else_the_environment_else_the_default(monkeypatch) -> None:
    monkeypatch.delenv("MAYTRAIN_TARGET", raising=False)
    assert make_config().target == DEFAULT_TARGET == "127.0.0.1:50051"
    monkeypatch.setenv("MAYTRAIN_TARGET", "unix:/run/maytrain.sock")
    assert make_config().target == "unix:/run/maytrain.sock"
    assert make_config("10.0.0.1:7000").target == "10.0.0.1:7000"


@pytest.mark.parametrize("target", ["localhost:50051", "[::1]:50051", "unix:/run/m.sock",
                                    "unix:///run/m.sock", "dns:///sidecar:50051"])
def test_host_port_unix_sockets_and_grpc_uris_are_accepted(target) -> None:
    with ConsentClient(target) as client:
        assert client.config.target == target


@pytest.mark.parametrize("target", ["localhost", "unix:", "http//x", "host:port"])
def test_a_target_without_a_port_or_path_is_refused(target) -> None:
    with pytest.raises(ValueError, match="neither host:port nor unix:/path"):
        ConsentClient(target)


@pytest.mark.parametrize("options, message", [
    ({"on_unavailable": "allow"}, 'must be "deny" or "raise"'),
    ({"timeout": 0}, "timeout must be positive"),
    ({"max_batch": -1}, "max_batch must be positive"),
    ({"chunk_size": 0}, "chunk_size must be positive"),
])
def test_nonsense_options_are_refused(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        ConsentClient("127.0.0.1:1", **options)


def test_an_unknown_option_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="unknown client option.*max_batches"):
        ConsentClient("127.0.0.1:1", max_batches=10)


def test_a_retry_policy_stays_within_grpc_limits() -> None:
    with pytest.raises(ValueError, match="2 to 5"):
        RetryPolicy(max_attempts=6)
    with pytest.raises(ValueError, match="backoff"):
        RetryPolicy(initial_backoff=3, max_backoff=1)
    assert [RetryPolicy().delay(n) for n in (2, 3, 4, 5, 6, 7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0]


def test_the_service_config_retries_only_unavailable_on_the_fully_qualified_service() -> None:
    config = json.loads(service_config(RetryPolicy(initial_backoff=0.05)))
    (method,) = config["methodConfig"]
    assert method["name"] == [{"service": "maytrain.v1.ConsentCheckService"}]
    assert method["retryPolicy"] == {
        "maxAttempts": 5, "initialBackoff": "0.05s", "maxBackoff": "2s",
        "backoffMultiplier": 2.0, "retryableStatusCodes": ["UNAVAILABLE"]}


def test_the_channel_enables_retries_with_that_service_config() -> None:
    options = dict(channel_options(ClientConfig()))
    assert options["grpc.enable_retries"] == 1
    assert json.loads(options["grpc.service_config"])["methodConfig"][0]["retryPolicy"]


def test_read_ahead_is_chunk_size_times_chunks_in_flight() -> None:
    assert ClientConfig(chunk_size=100, max_in_flight=3).read_ahead == 300
