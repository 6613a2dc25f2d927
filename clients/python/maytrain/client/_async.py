"""AsyncConsentClient: the asyncio client (grpc.aio), for async ingestion services."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Iterable,
    Iterator,
)
from typing import Any, Generic, TypeVar

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
from ._config import ClientConfig, channel_options, make_config
from ._decisions import Decision
from ._errors import describe, is_no_answer, rejected
from ._lineage import ManifestTarget, open_manifest
from ._records import RecordLike, to_proto
from ._stream import AsRecord, Attempts, StreamBroken, StreamWindow
from ._tls import channel_credentials

T = TypeVar("T")
R = TypeVar("R")
Items = Iterable[T] | AsyncIterable[T]


class AsyncConsentClient:
    """Asks a maytrain sidecar about records from asyncio code; `async with` it."""

    def __init__(self, target: str | None = None, **options: Any) -> None:
        self.config = make_config(target, **options)
        credentials, settings = channel_credentials(self.config), channel_options(self.config)
        self._channel = (grpc.aio.secure_channel(self.config.target, credentials, settings)
                         if credentials else grpc.aio.insecure_channel(self.config.target, settings))
        self._stub = pb_grpc.ConsentCheckServiceStub(self._channel)

    async def check(self, record: RecordLike, *, min_consent_version: int = 0,
                    explain: bool = False, timeout: float | None = None) -> Decision:
        """The decision on one record (denied as unavailable if the sidecar cannot answer)."""
        options = call_options(self.config, timeout, min_consent_version, explain)
        message = to_proto(record, self.config.default_purpose)
        try:
            response = await self._stub.Check(check_request(message, options),
                                              timeout=options.timeout,
                                              wait_for_ready=self.config.wait_for_ready)
            return read_single(message, response)
        except (grpc.RpcError, NoUsableAnswer) as error:
            return failed_call(self.config, [message], error)[0]

    async def check_many(self, records: Iterable[RecordLike], *, min_consent_version: int = 0,
                         explain: bool = False,
                         timeout: float | None = None) -> list[Decision]:
        """Decisions on many records, in order: batches within the limit, a few at a time."""
        options = call_options(self.config, timeout, min_consent_version, explain)
        purpose, limit = self.config.default_purpose, asyncio.Semaphore(self.config.max_concurrency)
        tasks = [asyncio.ensure_future(self._batch([to_proto(r, purpose) for r in batch],
                                                   options, limit))
                 for batch in batched(records, self.config.max_batch)]
        try:
            results = await asyncio.gather(*tasks)
        finally:
            for task in tasks:  # only still running when one raised: stop the others
                task.cancel()
        return [decision for result in results for decision in result]

    def filter(self, records: Items[T], *, as_record: AsRecord = None,
               manifest: ManifestTarget = None, min_consent_version: int = 0,
               explain: bool = False) -> AsyncIterator[T]:
        """Yield the allowed items of `records`, a sync or async iterable; see ConsentClient."""
        options = call_options(self.config, None, min_consent_version, explain)
        return _filter(self, records, as_record, manifest, options)

    async def close(self) -> None:
        """Close the channel; calls in progress are cancelled."""
        await self._channel.close()

    async def __aenter__(self) -> AsyncConsentClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _batch(self, messages: list[consent_pb2.Record], options: CallOptions,
                     limit: asyncio.Semaphore) -> list[Decision]:
        async with limit:
            try:
                response = await self._stub.CheckBatch(
                    batch_request(messages, options), timeout=options.timeout,
                    wait_for_ready=self.config.wait_for_ready)
                return read_answer(messages, response)
            except (grpc.RpcError, NoUsableAnswer) as error:
                return failed_call(self.config, messages, error)


async def _filter(client: AsyncConsentClient, records: Items[T], as_record: AsRecord,
                  manifest: ManifestTarget, options: CallOptions) -> AsyncIterator[T]:
    """The filter generator: streams, resumes broken streams, fails closed."""
    lineage, owned = open_manifest(manifest)
    window = StreamWindow(client.config, options, as_record, lineage)
    source, attempts = _Source(records), Attempts(client.config.retry)
    try:
        while not window.done:
            stream = _Stream(client)
            try:
                async with contextlib.aclosing(_drive(stream, window, source, attempts)) as items:
                    async for item in items:
                        yield item
            except StreamBroken as broken:
                delay = attempts.failed(window.remaining())
                if delay is None:
                    window.fail_closed(str(broken))
                else:
                    log.info("stream to %s broke (%s); sending %d unanswered chunk(s) again",
                             client.config.target, broken, len(window.pending))
                    with window.waiting():
                        await asyncio.sleep(delay)
            finally:
                stream.close()
    finally:
        if owned:
            lineage.close()


async def _drive(stream: _Stream, window: StreamWindow, source: _Source[T],
                 attempts: Attempts) -> AsyncGenerator[T, None]:
    """Send (again) what is pending, keep the window full, yield each answer's allowed items."""
    for unanswered in list(window.pending):
        with window.waiting():
            await stream.send(unanswered.request, window.remaining())
    while True:
        while window.wants_more():
            chunk = window.add(await source.take(window.config.chunk_size))
            if chunk is not None:
                with window.waiting():  # a write waits for the connection and flow control
                    await stream.send(chunk.request, window.remaining())
        if window.done:
            await stream.finish()
            return
        with window.waiting():
            response = await stream.receive(window.remaining())
        allowed = window.answer(response)
        attempts.succeeded()
        for item in allowed:
            yield item


class _Source(Generic[T]):
    """Reads chunks from a sync or an async iterable alike."""

    def __init__(self, records: Items[T]) -> None:
        self._async: AsyncIterator[T] | None = None
        self._sync: Iterator[T] = iter(())
        if isinstance(records, AsyncIterable):
            self._async = aiter(records)
        else:
            self._sync = iter(records)

    async def take(self, count: int) -> list[T]:
        if self._async is None:
            return [item for _, item in zip(range(count), self._sync, strict=False)]
        items: list[T] = []
        async for item in self._async:
            items.append(item)
            if len(items) == count:
                break
        return items


class _Stream:
    """One CheckStream call; every write and every answer has a deadline."""

    def __init__(self, client: AsyncConsentClient) -> None:
        self.config: ClientConfig = client.config
        self._call = client._stub.CheckStream(wait_for_ready=client.config.wait_for_ready)

    async def send(self, request: pb.CheckStreamRequest, within: float) -> None:
        await self._bounded(self._call.write(request), within)

    async def receive(self, within: float) -> pb.CheckStreamResponse:
        """The next answer, or StreamBroken if none comes within `within` seconds."""
        response = await self._bounded(self._call.read(), within)
        if not isinstance(response, pb.CheckStreamResponse):  # grpc.aio.EOF
            raise StreamBroken("the sidecar ended the stream before answering every chunk")
        return response

    async def finish(self) -> None:
        """Say the input has ended, and let the sidecar end the stream (within the deadline)."""
        try:
            await self._bounded(self._call.done_writing())
            await self._bounded(self._call.read())  # EOF: every chunk is answered already
        except StreamBroken:
            pass

    def close(self) -> None:
        self._call.cancel()

    async def _bounded(self, step: Awaitable[R], within: float | None = None) -> R:
        limit = self.config.timeout if within is None else max(0.0, within)
        try:
            return await asyncio.wait_for(step, limit)
        except TimeoutError:
            raise StreamBroken(f"no answer to a chunk within the {self.config.timeout}s "
                               "timeout") from None
        except grpc.RpcError as error:
            if not is_no_answer(error):
                raise rejected(error, self.config.target) from error
            raise StreamBroken(describe(error)) from None
        except asyncio.InvalidStateError as error:  # a write after the call has ended
            raise StreamBroken(f"the stream has ended: {error}") from None
