"""The bookkeeping of filter's CheckStream, shared by the sync and async clients.

Records are sent in chunks; at most `max_in_flight` chunks are sent and not yet answered
(the read-ahead bound). Answers come in order, so the oldest pending chunk is the one
answered. When a stream breaks, the pending chunks are sent again on a new stream.

The oldest pending chunk is answered, or failed closed, after at most the client's
`timeout` of waiting for it, retries and reconnects included (time the caller spends on
the items yielded is not waiting). With no sidecar at all, each window of up to
`max_in_flight` chunks is therefore failed closed after `timeout` seconds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_pb2

from ._calls import CallOptions, NoUsableAnswer, fail_closed, read_answer, stream_request
from ._config import ClientConfig, RetryPolicy
from ._lineage import LineageWriter
from ._records import RecordLike, to_proto

AsRecord = Callable[[Any], RecordLike] | None


class StreamBroken(Exception):
    """The stream ended, failed or stalled before answering every chunk sent."""


@dataclass
class Chunk:
    """Items read from the caller, their wire records, and the request that carries them."""

    items: list[Any]
    records: list[consent_pb2.Record]
    request: pb.CheckStreamRequest


class StreamWindow:
    """The chunks sent and not yet answered, and whether the input has run out."""

    def __init__(self, config: ClientConfig, options: CallOptions, as_record: AsRecord,
                 lineage: LineageWriter) -> None:
        self.config, self.options, self.lineage = config, options, lineage
        self.as_record = as_record or (lambda item: item)
        self.pending: deque[Chunk] = deque()
        self.exhausted = False
        self.waited = 0.0  # seconds spent waiting for the oldest pending chunk

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Count the time of the block (a receive, a backoff) against the oldest chunk."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.waited += time.monotonic() - started

    @property
    def done(self) -> bool:
        """True when the input has run out and every chunk has been answered."""
        return self.exhausted and not self.pending

    def wants_more(self) -> bool:
        """True while there is input left and room for another chunk in flight."""
        return not self.exhausted and len(self.pending) < self.config.max_in_flight

    def add(self, items: list[Any]) -> Chunk | None:
        """Queue a chunk of items to send; an empty list marks the end of the input."""
        if not items:
            self.exhausted = True
            return None
        purpose, as_record = self.config.default_purpose, self.as_record
        records = [to_proto(as_record(item), purpose) for item in items]
        chunk = Chunk(items, records, stream_request(records, self.options))
        self.pending.append(chunk)
        return chunk

    def remaining(self) -> float:
        """Seconds the oldest pending chunk may still be waited for."""
        return self.config.timeout - self.waited

    def answer(self, response: pb.CheckStreamResponse) -> list[Any]:
        """The allowed items of the oldest chunk, which `response` answers."""
        chunk = self.pending[0]
        try:
            decisions = read_answer(chunk.records, response)
        except NoUsableAnswer as problem:
            raise StreamBroken(str(problem)) from None
        self.pending.popleft()
        self.waited = 0.0
        self.lineage.write(chunk.records, decisions)
        return [item for item, decision in zip(chunk.items, decisions, strict=True) if decision.allowed]

    def fail_closed(self, why: str) -> None:
        """Deny every pending chunk as unavailable (or raise, if the client was asked to)."""
        while self.pending:
            chunk = self.pending[0]
            self.lineage.write(chunk.records, fail_closed(self.config, chunk.records, why))
            self.pending.popleft()
        self.waited = 0.0


class Attempts:
    """Counts consecutive failed streams; says how long to back off, or to give up."""

    def __init__(self, retry: RetryPolicy) -> None:
        self.retry, self.failures = retry, 0

    def failed(self, remaining: float) -> float | None:
        """Seconds to wait before trying again, or None when the attempts are used up or a
        wait would outlast the oldest pending chunk's deadline (`remaining` seconds)."""
        self.failures += 1
        delay = self.retry.delay(self.failures + 1)
        if self.failures >= self.retry.max_attempts or delay >= remaining:
            self.failures = 0  # the next chunks get attempts of their own
            return None
        return delay

    def succeeded(self) -> None:
        self.failures = 0
