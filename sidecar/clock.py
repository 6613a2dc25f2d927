"""The process's clocks: the wall clock that writes and decisions read, in microseconds.

The decision core never reads a clock; the layers around it pass `now` in, taken here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .core.model import Micros

Clock = Callable[[], Micros]
"""A source of `now`, in microseconds since the epoch (tests pass their own)."""


def wall_clock() -> Micros:
    """Microseconds since the epoch from the system clock."""
    return time.time_ns() // 1000
