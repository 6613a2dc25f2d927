"""Client settings: where the sidecar is, how to reach it, how long to wait, how to batch
and retry.

Every setting has a default; the target comes from the argument, then $MAYTRAIN_TARGET,
then 127.0.0.1:50051, and the TLS files from their options, then $MAYTRAIN_TLS_CA,
$MAYTRAIN_TLS_CERT and $MAYTRAIN_TLS_KEY. Retries and reconnects are configured once, on
the channel.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any, Literal

SERVICE = "maytrain.v1.ConsentCheckService"
DEFAULT_TARGET = "127.0.0.1:50051"
TARGET_ENV = "MAYTRAIN_TARGET"
TLS_ENV = {"tls_ca": "MAYTRAIN_TLS_CA", "tls_cert": "MAYTRAIN_TLS_CERT",
           "tls_key": "MAYTRAIN_TLS_KEY"}
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # the sidecar's own limit; a 10,000-record batch fits
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[^:/\s\[\]]+):\d{1,5}$")
OnUnavailable = Literal["deny", "raise"]


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of UNAVAILABLE (by gRPC, per call) and of broken streams (by the client)."""

    max_attempts: int = 5  # gRPC caps a retry policy at 5 attempts
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if not 2 <= self.max_attempts <= 5:
            raise ValueError(f"max_attempts must be 2 to 5 (gRPC's limit), not {self.max_attempts}")
        if not 0 < self.initial_backoff <= self.max_backoff or self.multiplier < 1:
            raise ValueError("backoffs must satisfy 0 < initial_backoff <= max_backoff and "
                             "multiplier >= 1")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt` (2, 3, ...)."""
        return min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 2))


@dataclass(frozen=True)
class ClientConfig:
    """Everything a client needs; immutable, so it can be shared and pickled."""

    target: str = DEFAULT_TARGET
    timeout: float = 5.0  # deadline of each call, and of each stream chunk's answer
    max_batch: int = 10_000  # records per CheckBatch call: the sidecar's default limit
    max_concurrency: int = 4  # CheckBatch calls in flight at once in check_many
    chunk_size: int = 1_000  # records per CheckStream message in filter
    max_in_flight: int = 4  # chunks sent and not yet answered: filter's read-ahead bound
    on_unavailable: OnUnavailable = "deny"
    default_purpose: str = ""  # the purpose of records that name none
    wait_for_ready: bool = True  # wait (within the deadline) for a sidecar still starting
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    tls_ca: str | None = None  # PEM file of the CA to trust; set: the channel is TLS
    tls_cert: str | None = None  # PEM client certificate (chain), for mutual TLS
    tls_key: str | None = None  # its private key
    tls_server_name: str | None = None  # the name to check in the sidecar's certificate

    def __post_init__(self) -> None:
        check_target(self.target)
        check_tls(self)
        if self.on_unavailable not in ("deny", "raise"):
            raise ValueError('on_unavailable must be "deny" or "raise", '
                             f"not {self.on_unavailable!r}")
        for name in ("timeout", "max_batch", "max_concurrency", "chunk_size", "max_in_flight"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)!r}")

    @property
    def uses_tls(self) -> bool:
        """True when the channel is TLS (a CA to trust is set)."""
        return bool(self.tls_ca)

    @property
    def read_ahead(self) -> int:
        """The most records filter holds that it has read but not yet handed on."""
        return self.chunk_size * self.max_in_flight


def make_config(target: str | None = None, **options: Any) -> ClientConfig:
    """A config from a target (else $MAYTRAIN_TARGET, else the default) and options."""
    known = {f.name for f in fields(ClientConfig)} - {"target"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown client option(s) {', '.join(unknown)}; "
                        f"known: {', '.join(sorted(known))}")
    for name, variable in TLS_ENV.items():
        if options.get(name) is None and os.environ.get(variable):
            options[name] = os.environ[variable]
    return ClientConfig(target=resolve_target(target), **options)


def resolve_target(target: str | None = None) -> str:
    """The target to use: the argument, else $MAYTRAIN_TARGET, else 127.0.0.1:50051."""
    return target or os.environ.get(TARGET_ENV) or DEFAULT_TARGET


def check_target(target: str) -> str:
    """Return `target` if it is `host:port`, `unix:/path` or a gRPC URI; else raise."""
    if target.startswith("unix:") and len(target) > len("unix:"):
        return target
    if "://" in target or _HOST_PORT.match(target):
        return target
    raise ValueError(f"target {target!r} is neither host:port nor unix:/path/to.sock")


def check_tls(config: ClientConfig) -> None:
    """Raise ValueError for TLS options that do not make one coherent setup."""
    given = [name for name in (*TLS_ENV, "tls_server_name") if getattr(config, name)]
    if not given:
        return
    if config.target.startswith("unix:"):
        raise ValueError(f"target {config.target!r} is a unix socket, which TLS does not "
                         f"cover: drop {', '.join(given)} (or unset $MAYTRAIN_TLS_*), or "
                         "use a host:port target")
    if bool(config.tls_cert) != bool(config.tls_key):
        raise ValueError("tls_cert and tls_key go together: the client certificate and "
                         "its private key")
    if not config.tls_ca:
        raise ValueError(f"{given[0]} needs tls_ca, the PEM file of the CA that signed "
                         "the sidecar's certificate")


def service_config(retry: RetryPolicy) -> str:
    """The gRPC service config: retry UNAVAILABLE, with backoff, on every method."""
    policy = {
        "maxAttempts": retry.max_attempts,
        "initialBackoff": _seconds(retry.initial_backoff),
        "maxBackoff": _seconds(retry.max_backoff),
        "backoffMultiplier": retry.multiplier,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
    return json.dumps({"methodConfig": [{"name": [{"service": SERVICE}],
                                         "retryPolicy": policy}]})


def _seconds(value: float) -> str:
    """A protobuf JSON duration: "0.1s", never in exponent notation."""
    return f"{value:.6f}".rstrip("0").rstrip(".") + "s"


def channel_options(config: ClientConfig) -> list[tuple[str, Any]]:
    """Channel options: retries, large batches, and quick reconnects to a local sidecar."""
    name_override = [("grpc.ssl_target_name_override", config.tls_server_name)]
    return [
        *(name_override if config.uses_tls and config.tls_server_name else []),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", service_config(config.retry)),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        # A sidecar restarts in about a second: don't let reconnects back off for minutes.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 2_000),
    ]
