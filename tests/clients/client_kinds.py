"""The kinds of client every test body runs against — sync and async, over TCP and a unix
socket — and AsyncConsentClient behind the sync client's interface, so one body covers both."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

from maytrain.client import AsyncConsentClient, ConsentClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KINDS = [(transport, listener) for transport in ("sync", "async") for listener in ("tcp", "uds")]
KIND_IDS = [f"transport={transport},listener={listener}" for transport, listener in KINDS]


def make_client(transport: str, target: str, **options: Any) -> Any:
    """A ConsentClient, or an AsyncConsentClient behind the same blocking interface."""
    if transport == "sync":
        return ConsentClient(target, **options)
    return AsyncBridge(target, **options)


class AsyncBridge:
    """Runs an AsyncConsentClient on its own event loop; methods block like ConsentClient's."""

    def __init__(self, target: str | None = None, **options: Any) -> None:
        self._runner = asyncio.Runner()
        self._client = self._runner.run(_open(target, options))
        self.config = self._client.config

    def check(self, record: Any, **options: Any):
        return self._runner.run(self._client.check(record, **options))

    def check_many(self, records: Iterable, **options: Any):
        return self._runner.run(self._client.check_many(records, **options))

    def filter(self, records: Iterable, **options: Any) -> Iterator:
        stream = self._client.filter(records, **options)
        try:
            while True:
                try:
                    item = self._runner.run(_next(stream))
                except StopAsyncIteration:
                    return
                yield item
        finally:
            self._runner.run(stream.aclose())

    def close(self) -> None:
        self._runner.run(self._client.close())
        self._runner.close()

    def __enter__(self) -> AsyncBridge:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def _open(target: str | None, options: dict) -> AsyncConsentClient:
    return AsyncConsentClient(target, **options)  # grpc.aio binds to the running loop


async def _next(stream: AsyncIterator) -> Any:
    return await stream.__anext__()
