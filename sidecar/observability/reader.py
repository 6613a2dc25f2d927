"""A consent reader that reports on itself: failed store reads by kind, and a span per read.

The runtime hands the follower an `ObservedReader` around each reader it opens, so that
the sync layer stays unaware of metrics and traces. Kinds: `connect` (opening the store),
`snapshot` (a full read), `changes` (reading the feed after a version).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from ..store.protocol import ConsentReader
from .tracing import Tracing

Report = Callable[[str], None]


class ObservedReader:
    """Delegates to a reader; counts its failures and traces its reads."""

    def __init__(self, reader: ConsentReader, on_error: Report, tracing: Tracing | None) -> None:
        self._reader, self._on_error, self._tracing = reader, on_error, tracing

    def __getattr__(self, name: str) -> Any:
        # Everything not observed (version, close, wait_for_change, ...) is the reader's own,
        # so a reader that pushes changes still looks like one.
        return getattr(self._reader, name)

    def snapshot(self):
        """The reader's snapshot, reported as kind `snapshot`."""
        with self._observed("snapshot") as span:
            snapshot = self._reader.snapshot()
            _describe(span, snapshot.version, len(snapshot.rows))
            return snapshot

    def changes_since(self, version: int, limit: int):
        """The reader's changes after `version`, reported as kind `changes`."""
        with self._observed("changes", **{"maytrain.from_version": version}) as span:
            changes = self._reader.changes_since(version, limit)
            _describe(span, changes[-1].version if changes else version, len(changes))
            return changes

    @contextlib.contextmanager
    def _observed(self, kind: str, name: str | None = None,
                  **attributes: Any) -> Iterator[Any]:
        try:
            if self._tracing is None:
                yield None
            else:
                with self._tracing.span(f"maytrain.sync.{name or kind}", **attributes) as span:
                    yield span
        except Exception:
            self._on_error(kind)
            raise


class ObservedPackingReader(ObservedReader):
    """An observed reader whose reader packs its snapshot as it reads it (a SQL store): the
    follower asks the reader's class for `snapshot_base` and `read_packed_base`, so only
    this class offers them."""

    def snapshot_base(self) -> Any:
        """The reader's packed snapshot (a cold start's load), reported as kind `snapshot`."""
        with self._observed("snapshot") as span:
            found = self._reader.snapshot_base()  # type: ignore[attr-defined]
            _describe(span, found[0], found[2].entry_count)
            return found

    def read_packed_base(self, out: Any) -> Any:
        """The store's packed base written to `out` (a cold start's first try): a span of its
        own, `maytrain.sync.packed_base`, its failures counted as kind `snapshot`."""
        with self._observed("snapshot", name="packed_base") as span:
            found = self._reader.read_packed_base(out)  # type: ignore[attr-defined]
            if span is not None:
                span.set_attribute("maytrain.packed_base.found", found is not None)
                if found is not None:
                    span.set_attribute("maytrain.consent_version", found.version)
            return found


def observed_opener(open_reader: Callable[[], ConsentReader], on_error: Report,
                    tracing: Tracing | None) -> Callable[[], ConsentReader]:
    """An opener whose readers are observed, and whose failures count as `connect`."""

    def open_observed() -> ConsentReader:
        try:
            if tracing is None:
                reader = open_reader()
            else:
                with tracing.span("maytrain.sync.connect"):
                    reader = open_reader()
        except Exception:
            on_error("connect")
            raise
        packs = getattr(type(reader), "snapshot_base", None) is not None
        observed = (ObservedPackingReader if packs else ObservedReader)(reader, on_error, tracing)
        return observed  # type: ignore[return-value]

    return open_observed


def _describe(span: Any, version: int, records: int) -> None:
    if span is not None:
        span.set_attribute("maytrain.consent_version", version)
        span.set_attribute("maytrain.records", records)
