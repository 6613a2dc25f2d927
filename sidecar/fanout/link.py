"""One NATS connection on an event loop of its own thread, called from synchronous code.

nats-py is asyncio; the sidecar's decision path and its follower are threads. A `NatsLink`
runs the loop in a daemon thread and `call()` waits for one coroutine there, within a
timeout: no caller ever blocks the loop, and the loop never runs sidecar code but the
message callbacks, which only hand messages over. The client reconnects by itself for as
long as the link is open; a call made while it cannot reach the server times out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from ..store.errors import StoreUnavailableError
from ..store.masking import mask_url

log = logging.getLogger("maytrain.nats")
T = TypeVar("T")
CALL_TIMEOUT = 5.0


def nats_module() -> Any:
    """The nats package, or a start-up error saying which extra brings it."""
    try:
        import nats
    except ImportError:
        raise StoreUnavailableError("following NATS needs nats-py: pip install 'maytrain[nats]'") \
            from None
    return nats


class NatsLink:
    """A connected NATS client (`nc`, `js`) on its own loop thread; close() ends both."""

    def __init__(self, url: str, *, name: str, timeout: float = CALL_TIMEOUT,
                 on_reconnect: Callable[[], Awaitable[None]] | None = None) -> None:
        nats = nats_module()
        self.url, self.timeout = mask_url(url), timeout
        self._on_reconnect = on_reconnect
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"{name}-nats",
                                        daemon=True)
        self._thread.start()
        self._up = True
        try:
            self.nc = self.call(nats.connect(
                url, name=name, connect_timeout=min(2.0, timeout), allow_reconnect=True,
                max_reconnect_attempts=-1, reconnect_time_wait=0.25,
                error_cb=self._error, disconnected_cb=self._disconnected,
                reconnected_cb=self._reconnected), timeout + 1)
        except Exception as exc:
            self._stop_loop()
            raise StoreUnavailableError(f"cannot reach NATS at {self.url}: "
                                        f"{type(exc).__name__}: {exc}") from None
        self.js = self.nc.jetstream(timeout=timeout)

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """The coroutine's result, run on the link's loop; TimeoutError past `timeout`."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(self.timeout if timeout is None else timeout)
        except FutureTimeout:
            future.cancel()
            raise TimeoutError(f"NATS at {self.url} did not answer in time") from None

    def close(self) -> None:
        """Drain nothing: close the connection, then stop the loop and its thread."""
        if not self._thread.is_alive():
            return
        self._up = False  # a disconnection from here on is ours, not an outage
        try:
            self.call(self.nc.close(), 2.0)
        except Exception as exc:  # closing a link to a server that is gone
            log.debug("closing the NATS connection: %s", exc)
        self._stop_loop()

    def _stop_loop(self) -> None:
        # Whatever the client still runs (a reconnect loop, a heartbeat check) is cancelled
        # and awaited first, so no task is destroyed pending.
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_cancel_others(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

    async def _error(self, exc: Exception) -> None:
        log.debug("NATS %s: %s", self.url, exc)

    async def _disconnected(self) -> None:
        if self._up:
            log.warning("lost the connection to NATS at %s; reconnecting", self.url)
            self._up = False

    async def _reconnected(self) -> None:
        if not self._thread.is_alive():
            return
        self._up = True
        log.info("connected to NATS at %s again", self.url)
        if self._on_reconnect is not None:
            await self._on_reconnect()


async def _cancel_others() -> None:
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
