"""Call guards: what one client may take from the sidecar before its calls reach the service.

- Streams hold a server thread each for as long as the client keeps them open, so at most
  `max_streams` run at once (RESOURCE_EXHAUSTED beyond), leaving the other threads for
  unary calls; health's Watch holds no thread and is not counted.
- A batch is counted on the wire before it is parsed: N empty records cost 2 bytes each
  there and about 75 times that once parsed, so a batch over `max_batch` is refused
  (INVALID_ARGUMENT) before it costs memory.
- A body that does not parse is INVALID_ARGUMENT with a message, not gRPC's INTERNAL
  "Exception deserializing request!" and a traceback in the log per call.
- Every call in a server thread is counted, so readiness can say when no thread is free.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from google.protobuf.message import DecodeError

HEALTH_WATCH = "/grpc.health.v1.Health/Watch"
BATCH_METHODS = ("/maytrain.v1.ConsentCheckService/CheckBatch",
                 "/maytrain.v1.ConsentCheckService/CheckStream")
RECORDS_TAG = 0x0A  # field 1 (records), wire type 2, in CheckBatchRequest and CheckStreamRequest
RECORDS_TAG_BYTE = bytes([RECORDS_TAG])


class OversizedBatch:
    """What the guarded parser returns for a request with more records than allowed."""

    def __init__(self, count: int) -> None:
        self.count = count


class Undecodable:
    """What the guarded parser returns for a body that is not the method's message."""

    def __init__(self, method: str) -> None:
        self.method = method


class CallGuards(grpc.ServerInterceptor):
    """Bounds streams and batch sizes; counts calls in progress."""

    def __init__(self, *, max_streams: int, max_batch: int, threads: int) -> None:
        self.max_streams, self.max_batch, self.threads = max_streams, max_batch, threads
        self._streams = threading.BoundedSemaphore(max_streams)
        self._lock = threading.Lock()
        self.active = 0
        self._guarded: dict[str, tuple[Any, Any]] = {}

    def saturated(self) -> bool:
        """True when every server thread is taken: a new call would wait, not be answered."""
        return self.active >= self.threads

    def intercept_service(self, continuation: Callable[[Any], Any],
                          details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if handler is None or details.method == HEALTH_WATCH:
            return handler
        # Called for every call: a method's guarded handler is made once and kept (the
        # registered methods are a fixed set, and a handler holds no state of a call).
        held = self._guarded.get(details.method)
        if held is None or held[0] is not handler:
            held = self._guarded[details.method] = (handler, self._guard(handler, details.method))
        return held[1]

    def _guard(self, handler: Any, method: str) -> Any:
        """The handler with its parser and its behavior guarded."""
        parse = handler.request_deserializer
        if parse is not None:
            parse = _decoding(parse, method)
            if method in BATCH_METHODS:
                parse = self._bounded(parse)
            handler = handler._replace(request_deserializer=parse)
        if handler.request_streaming or handler.response_streaming:
            return _with_behavior(handler, self._stream)
        return _with_behavior(handler, self._unary)

    def _bounded(self, parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
        def parse_bounded(raw: bytes) -> Any:
            count = count_records(raw, self.max_batch)
            return OversizedBatch(count) if count > self.max_batch else parse(raw)

        return parse_bounded

    def _unary(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        lock = self._lock

        def call(request: Any, context: grpc.ServicerContext) -> Any:
            self._refuse_unusable(request, context)
            with lock:  # _counted, written out: this runs for every unary call
                self.active += 1
            try:
                return behavior(request, context)
            finally:
                with lock:
                    self.active -= 1

        return call

    def _stream(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            if not self._streams.acquire(blocking=False):
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, (
                    f"the sidecar already serves {self.max_streams} streams, its limit "
                    "(--max-streams): close idle streams, or retry later"))
            try:
                with self._counted():
                    yield from behavior(self._checked(request, context), context)
            finally:
                self._streams.release()

        return call

    def _checked(self, request: Any, context: grpc.ServicerContext) -> Any:
        """A stream's requests with oversized ones refused; a unary request as it is."""
        if not isinstance(request, Iterator):
            self._refuse_unusable(request, context)
            return request
        return self._each_checked(request, context)

    def _each_checked(self, requests: Iterator[Any],
                      context: grpc.ServicerContext) -> Iterator[Any]:
        for request in requests:
            self._refuse_unusable(request, context)
            yield request

    def _refuse_unusable(self, request: Any, context: grpc.ServicerContext) -> None:
        if isinstance(request, Undecodable):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, (
                f"the request body is not a valid message for {request.method}: send it "
                "with the maytrain.v1 stubs (protos/maytrain/v1)"))
        if isinstance(request, OversizedBatch):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, (
                f"a batch of more than {self.max_batch} records is over the limit of "
                f"{self.max_batch} records per call: split it into smaller batches"))

    @contextmanager
    def _counted(self) -> Iterator[None]:
        with self._lock:
            self.active += 1
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1


def _decoding(parse: Callable[[bytes], Any], method: str) -> Callable[[bytes], Any]:
    """The parser, answering Undecodable for a body it refuses."""

    def parse_or_mark(raw: bytes) -> Any:
        try:
            return parse(raw)
        except DecodeError:
            return Undecodable(method)

    return parse_or_mark


def _with_behavior(handler: Any, wrap: Callable[[Callable[..., Any]], Any]) -> Any:
    """The handler with its one behavior (unary_unary, stream_stream, ...) wrapped."""
    for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
        behavior = getattr(handler, kind)
        if behavior is not None:
            return handler._replace(**{kind: wrap(behavior)})
    return handler


def count_records(raw: bytes, limit: int) -> int:
    """How many `records` entries a serialized batch request holds, counting no further
    than limit + 1; 0 when it cannot hold more than `limit`. A malformed buffer stops the
    count: the real parser then refuses it."""
    # Every record starts with its tag byte, so a buffer with at most `limit` such bytes
    # (counted in C) cannot hold more records; only the rest is walked field by field.
    if len(raw) <= 2 * limit or raw.count(RECORDS_TAG_BYTE) <= limit:
        return 0
    pos, count, end = 0, 0, len(raw)
    while pos < end and count <= limit:
        tag, pos = _varint(raw, pos)
        wire = tag & 7
        if wire == 2:
            length, pos = _varint(raw, pos)
            pos += length
            count += tag == RECORDS_TAG
        elif wire == 0:
            _, pos = _varint(raw, pos)
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            break
    return count


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it (a truncated one ends the buffer)."""
    byte = raw[pos]
    if byte < 0x80:
        return byte, pos + 1
    value, shift = 0, 0
    while pos < len(raw):
        byte = raw[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7
    return value, len(raw)
