"""What the service reports about each call it answered, and the observers that listen.

The service hands one `DecidedBatch` per call (or per stream message) to one observer,
after deciding it. Observers count, queue or trace it; none may block the call, and none
may fail it: `FanOut` logs an observer's failure and carries on.
"""

from __future__ import annotations

import logging
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple, Protocol

from ..core.model import Decision, Micros, Reason, Record

log = logging.getLogger("maytrain.server")


class DecidedBatch(NamedTuple):
    """One answered call: its records and decisions, in order, and what they were decided at.

    `metadata` returns the call's gRPC metadata (read only by a tracer, for the caller's
    trace context); `seconds` is the time from receiving the call to having its answer.
    """

    rpc: str
    records: Sequence[Record]
    decisions: Sequence[Decision]
    now: Micros
    consent_version: int
    policy_version: str
    seconds: float
    metadata: Callable[[], Iterable[tuple[str, str | bytes]]] = tuple


def reason_counts(decisions: Sequence[Decision]) -> Mapping[Reason, int]:
    """How many of the decisions have each reason (a columnar answer, which offers
    `reason_counts()`, counts its rule numbers in C rather than a decision at a time)."""
    counted = getattr(decisions, "reason_counts", None)
    if counted is not None:
        return counted()  # type: ignore[no-any-return]
    return Counter(map(_REASON, decisions))


_REASON = operator.attrgetter("reason")


class BatchObserver(Protocol):
    """Something told of every decided batch (metrics, receipts, traces)."""

    def decided(self, batch: DecidedBatch) -> None:
        """Take note of a batch; return at once."""


class NoObserver:
    """The default: nobody is told."""

    def decided(self, batch: DecidedBatch) -> None:
        """Do nothing."""


NO_OBSERVER = NoObserver()


class FanOut:
    """Tells each observer in turn; one that fails is logged, never the call's failure."""

    def __init__(self, observers: Iterable[BatchObserver]) -> None:
        self.observers = tuple(observers)

    def decided(self, batch: DecidedBatch) -> None:
        """Tell every observer, in order."""
        for observer in self.observers:
            try:
                observer.decided(batch)
            except Exception:  # the answer is already made; losing a count must not lose it
                log.exception("%s failed to observe a %s call", type(observer).__name__,
                              batch.rpc)


def observer_of(observers: Sequence[BatchObserver]) -> BatchObserver:
    """One observer for all of them (NO_OBSERVER for none)."""
    return FanOut(observers) if observers else NO_OBSERVER
