"""ConsentClient: the synchronous client (grpcio), for ordinary ingestion workers."""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import grpc

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2

from ._calls import (
    CallOptions,
    NoUsableAnswer,
    batch_request,
    batched,
    call_options,
    check_request,
    failed_call,
    log,
    read_answer,
    read_single,
)
from ._changes import ChangeWatch
from ._config import channel_options, make_config
from ._decisions import Decision
from ._errors import describe, is_no_answer, rejected
from ._lineage import ManifestTarget, open_manifest
from ._records import RecordLike, to_proto
from ._stream import AsRecord, Attempts, StreamBroken, StreamWindow
from ._tls import channel_credentials

T = TypeVar("T")


class ConsentClient:
    """Asks a maytrain sidecar about records; use it as a context manager, or close() it."""

    def __init__(self, target: str | None = None, **options: Any) -> None:
        self.config = make_config(target, **options)
        credentials, settings = channel_credentials(self.config), channel_options(self.config)
        self._channel = (grpc.secure_channel(self.config.target, credentials, settings)
                         if credentials else grpc.insecure_channel(self.config.target, settings))
        self._stub = pb_grpc.ConsentCheckServiceStub(self._channel)

    def check(self, record: RecordLike, *, min_consent_version: int = 0, explain: bool = False,
              timeout: float | None = None) -> Decision:
        """The decision on one record (denied as unavailable if the sidecar cannot answer)."""
        options = call_options(self.config, timeout, min_consent_version, explain)
        message = to_proto(record, self.config.default_purpose)
        try:
            response = self._stub.Check(check_request(message, options), timeout=options.timeout,
                                        wait_for_ready=self.config.wait_for_ready)
            return read_single(message, response)
        except (grpc.RpcError, NoUsableAnswer) as error:
            return failed_call(self.config, [message], error)[0]

    def check_many(self, records: Iterable[RecordLike], *, min_consent_version: int = 0,
                   explain: bool = False, timeout: float | None = None) -> list[Decision]:
        """Decisions on many records, in order: batches within the limit, a few at a time."""
        options = call_options(self.config, timeout, min_consent_version, explain)
        purpose, decisions = self.config.default_purpose, []
        in_flight: deque[tuple[list[consent_pb2.Record], grpc.Future[pb.CheckBatchResponse]]] = deque()
        try:
            for batch in batched(records, self.config.max_batch):
                messages = [to_proto(record, purpose) for record in batch]
                future = self._stub.CheckBatch.future(
                    batch_request(messages, options), timeout=options.timeout,
                    wait_for_ready=self.config.wait_for_ready)
                in_flight.append((messages, future))
                if len(in_flight) >= self.config.max_concurrency:
                    decisions += self._collect(*in_flight.popleft())
            while in_flight:
                decisions += self._collect(*in_flight.popleft())
        finally:
            for _, unfinished in in_flight:  # only left when raising: don't leave calls running
                unfinished.cancel()
        return decisions

    def filter(self, records: Iterable[T], *, as_record: AsRecord = None,
               manifest: ManifestTarget = None, min_consent_version: int = 0,
               explain: bool = False) -> Iterator[T]:
        """Yield the allowed items of `records`, in order, streaming with bounded read-ahead.

        `as_record` maps an item to its record (default: the item is the record);
        `manifest` (a path, open text file or LineageWriter) gets a line per item.
        """
        options = call_options(self.config, None, min_consent_version, explain)
        return _filter(self, records, as_record, manifest, options)

    def watch_changes(self, from_version: int = 0, *, restricting_only: bool = True,
                      follow: bool = True) -> ChangeWatch:
        """The consent changes after `from_version`, in order, each once, resuming after a
        broken stream from the last version reached (HistoryUnavailable when the sidecar
        holds no history there). follow=False ends once the sidecar has caught up."""
        return ChangeWatch(self, from_version, restricting_only=restricting_only,
                           follow=follow)

    def close(self) -> None:
        """Close the channel; calls in progress are cancelled."""
        self._channel.close()

    def __enter__(self) -> ConsentClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _collect(self, messages: list[consent_pb2.Record],
                 future: grpc.Future[pb.CheckBatchResponse]) -> list[Decision]:
        try:
            return read_answer(messages, future.result())
        except (grpc.RpcError, NoUsableAnswer) as error:
            return failed_call(self.config, messages, error)


def _filter(client: ConsentClient, records: Iterable[T], as_record: AsRecord,
            manifest: ManifestTarget, options: CallOptions) -> Iterator[T]:
    """The filter generator: streams, resumes broken streams, fails closed."""
    lineage, owned = open_manifest(manifest)
    window = StreamWindow(client.config, options, as_record, lineage)
    source, attempts = iter(records), Attempts(client.config.retry)
    try:
        while not window.done:
            stream = _Stream(client)
            try:
                yield from _drive(stream, window, source, attempts)
            except StreamBroken as broken:
                delay = attempts.failed(window.remaining())
                if delay is None:
                    window.fail_closed(str(broken))
                else:
                    log.info("stream to %s broke (%s); sending %d unanswered chunk(s) again",
                             client.config.target, broken, len(window.pending))
                    with window.waiting():
                        time.sleep(delay)
            finally:
                stream.close()
    finally:
        if owned:
            lineage.close()


def _drive(stream: _Stream, window: StreamWindow, source: Iterator[T],
           attempts: Attempts) -> Iterator[T]:
    """Send (again) what is pending, keep the window full, yield each answer's allowed items."""
    for unanswered in window.pending:
        stream.send(unanswered.request)
    while True:
        while window.wants_more():
            chunk = window.add(list(itertools.islice(source, window.config.chunk_size)))
            if chunk is not None:
                stream.send(chunk.request)
        if window.done:
            stream.finish()
            return
        with window.waiting():
            response = stream.receive(window.remaining())
        allowed = window.answer(response)
        attempts.succeeded()
        yield from allowed


class _Stream:
    """One CheckStream call: requests go through a queue, each answer has a deadline."""

    def __init__(self, client: ConsentClient) -> None:
        self.target, self.timeout = client.config.target, client.config.timeout
        # None ends the request iterator gRPC reads from its own thread.
        self._outbox: queue.SimpleQueue[pb.CheckStreamRequest | None] = queue.SimpleQueue()
        self._call = client._stub.CheckStream(iter(self._outbox.get, None),
                                              wait_for_ready=client.config.wait_for_ready)
        self._expired = False

    def send(self, request: pb.CheckStreamRequest) -> None:
        self._outbox.put(request)

    def receive(self, within: float) -> pb.CheckStreamResponse:
        """The next answer, or StreamBroken if none comes within `within` seconds."""
        try:
            with self._deadline(within):
                return next(self._call)
        except StopIteration:
            raise StreamBroken("the sidecar ended the stream before answering every chunk") \
                from None
        except grpc.RpcError as error:
            if self._expired:
                raise StreamBroken(f"no answer to a chunk within the {self.timeout}s "
                                   "timeout") from None
            if not is_no_answer(error):
                raise rejected(error, self.target) from error
            raise StreamBroken(describe(error)) from None

    def finish(self) -> None:
        """Say the input has ended, and let the sidecar end the stream (within the deadline)."""
        self._outbox.put(None)
        try:
            with self._deadline():
                for _ in self._call:  # every chunk is answered: nothing more should come
                    pass
        except grpc.RpcError:
            pass

    def close(self) -> None:
        self._outbox.put(None)  # lets gRPC's request thread finish
        self._call.cancel()

    @contextlib.contextmanager
    def _deadline(self, within: float | None = None) -> Iterator[None]:
        """Cancel the call if the block takes longer than `within` (else the timeout)."""
        timer = threading.Timer(max(0.0, self.timeout if within is None else within),
                                self._expire)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def _expire(self) -> None:
        self._expired = True
        self._call.cancel()
