"""What the sync and async clients share around each call: per-call options, batching,
requests, reading answers, and failing closed when no answer comes."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

import grpc

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_pb2

from ._config import ClientConfig
from ._decisions import Decision, answer_problem, from_wire, unavailable
from ._errors import SidecarUnavailable, describe, is_no_answer, rejected

log = logging.getLogger("maytrain.client")
T = TypeVar("T")
# The answers that carry decisions for a list of records.
Answer: TypeAlias = "pb.CheckBatchResponse | pb.CheckStreamResponse | _AsBatch"


@dataclass(frozen=True)
class CallOptions:
    """What a caller may set per call."""

    timeout: float
    min_consent_version: int = 0
    explain: bool = False

    def __post_init__(self) -> None:
        if self.min_consent_version < 0 or self.timeout <= 0:
            raise ValueError("min_consent_version must be >= 0 and timeout positive")


class NoUsableAnswer(Exception):
    """An answer that does not fit its request; handled like no answer at all."""


def call_options(config: ClientConfig, timeout: float | None, min_consent_version: int,
                 explain: bool) -> CallOptions:
    """Per-call options, with the client's timeout unless the call sets one."""
    return CallOptions(config.timeout if timeout is None else timeout, min_consent_version,
                       explain)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most `size` items."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def check_request(record: consent_pb2.Record, options: CallOptions) -> pb.CheckRequest:
    return pb.CheckRequest(record=record, min_consent_version=options.min_consent_version,
                           explain=options.explain)


def batch_request(records: Sequence[consent_pb2.Record],
                  options: CallOptions) -> pb.CheckBatchRequest:
    return pb.CheckBatchRequest(records=records, explain=options.explain,
                                min_consent_version=options.min_consent_version)


def stream_request(records: Sequence[consent_pb2.Record],
                   options: CallOptions) -> pb.CheckStreamRequest:
    return pb.CheckStreamRequest(records=records, explain=options.explain,
                                 min_consent_version=options.min_consent_version)


def read_answer(records: Sequence[consent_pb2.Record], response: Answer) -> list[Decision]:
    """Decisions from a batch or stream answer, which must match its records one to one."""
    problem = answer_problem(records, response.decisions)
    if problem:
        raise NoUsableAnswer(problem)
    return from_wire(response.decisions, response.consent_version, response.policy_version)


def read_single(record: consent_pb2.Record, response: pb.CheckResponse) -> Decision:
    """The decision from a Check answer, which must be for the record sent."""
    return read_answer([record], _AsBatch(response))[0]


def failed_call(config: ClientConfig, records: Sequence[consent_pb2.Record],
                error: Exception) -> list[Decision]:
    """Denials for a call that got no usable answer; raises if asked to, or if refused."""
    if isinstance(error, grpc.RpcError) and not is_no_answer(error):
        raise rejected(error, config.target) from error
    why = describe(error) if isinstance(error, grpc.RpcError) else str(error)
    return fail_closed(config, records, why)


def fail_closed(config: ClientConfig, records: Sequence[consent_pb2.Record],
                why: str) -> list[Decision]:
    """Deny `records` as unavailable, or raise SidecarUnavailable if the client was asked to."""
    message = f"no answer from the sidecar at {config.target}: {why}"
    if config.on_unavailable == "raise":
        raise SidecarUnavailable(message)
    log.warning("%s; denying %d record(s) as DENIED_UNAVAILABLE", message, len(records))
    return unavailable(records, message)


class _AsBatch:
    """A Check answer seen as a one-decision batch answer."""

    def __init__(self, response: pb.CheckResponse) -> None:
        self.decisions = [response.decision] if response.HasField("decision") else []
        self.consent_version = response.consent_version
        self.policy_version = response.policy_version
