"""The process's clocks, in microseconds: the wall clock that writes read, and the decision
clock (`DecisionClock`) that decisions and staleness read, which never steps back.

The decision core never reads a clock; the layers around it pass `now` in, taken here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .core.model import Micros

Clock = Callable[[], Micros]
"""A source of `now`, in microseconds since the epoch (tests pass their own)."""


def wall_clock() -> Micros:
    """Microseconds since the epoch from the system clock."""
    return time.time_ns() // 1000


class DecisionClock:
    """The sidecar's `now`, for decisions and for the age of its cache.

    It advances with the monotonic clock and follows the wall clock only forwards, so a
    wall clock stepping back (an NTP correction, a VM resumed) neither extends a cache's
    life nor undoes a restriction. `observe(t)` moves it up to a time seen elsewhere (the
    store's writes): the decision clock never runs below the latest time the sidecar has
    seen, so an opt-out in force when it was written binds whatever this machine's clock says.
    """

    def __init__(self, wall: Callable[[], int] = time.time_ns,
                 monotonic: Callable[[], int] = time.monotonic_ns) -> None:
        self._wall, self._monotonic = wall, monotonic
        self._offset = wall() // 1000 - monotonic() // 1000
        self._lock = threading.Lock()

    def __call__(self) -> Micros:
        with self._lock:
            now = self._monotonic() // 1000 + self._offset
            wall = self._wall() // 1000
            if wall > now:  # the wall clock stepped (or ran) ahead: follow it forwards
                self._offset += wall - now
                now = wall
            return now

    def observe(self, micros: Micros) -> None:
        """Never answer a time below `micros` from now on."""
        with self._lock:
            now = self._monotonic() // 1000 + self._offset
            if micros > now:
                self._offset += micros - now
