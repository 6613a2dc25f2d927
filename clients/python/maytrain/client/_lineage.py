"""The lineage manifest: one entry per record filtered — the record's every field a decision
reads, then the decision with its consent and policy versions — so a training set can be
audited and re-decided later (`maytrain purge-plan`). Entries are in the order of the input.

A path ending in `.parquet` gets Parquet (pyarrow, written a row group at a time; the same
column names, collected_at as a UTC timestamp); any other path or an open text file gets
JSON Lines, collected_at as ISO 8601 in UTC (or null).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Union

from maytrain.v1 import consent_pb2 as pb

from ._decisions import Decision
from ._optional import require

ManifestTarget = Union[str, "os.PathLike[str]", IO[str], "LineageWriter", None]

MANIFEST_FIELDS = ("record_id", "account_id", "user_id", "data_category", "purpose",
                   "collected_at", "region", "derived_from", "verdict", "reason",
                   "consent_version", "policy_version")
"""The manifest's columns, in order: the record as decided, then the decision."""
ROW_GROUP = 65_536
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z: the last time datetime can hold


@dataclass(frozen=True)
class FilterSummary:
    """Counts of one filter run: records decided, allowed, and how many per reason."""

    total: int
    allowed: int
    reasons: Mapping[str, int] = field(default_factory=dict)

    @property
    def denied(self) -> int:
        """Records that were not allowed, for whatever reason."""
        return self.total - self.allowed


class LineageWriter:
    """Writes manifest entries to a path (Parquet for `.parquet`, else JSON Lines) or an
    open text file, and counts what it saw."""

    def __init__(self, destination: str | os.PathLike[str] | IO[str] | None) -> None:
        self._sink: _JsonLines | _Parquet | None
        if destination is None:
            self._sink = None
        elif isinstance(destination, (str, os.PathLike)) and is_parquet(destination):
            self._sink = _Parquet(destination)
        else:
            self._sink = _JsonLines(destination)
        self._reasons: Counter[str] = Counter()
        self._allowed = 0

    def write(self, records: Sequence[pb.Record], decisions: Sequence[Decision]) -> None:
        """Record the decisions on one chunk of records."""
        for decision in decisions:
            self._reasons[decision.reason.value] += 1
            self._allowed += decision.allowed
        if self._sink is not None:
            self._sink.write([_entry(r, d) for r, d in zip(records, decisions, strict=True)])

    def summary(self) -> FilterSummary:
        """What has been written so far."""
        return FilterSummary(sum(self._reasons.values()), self._allowed, dict(self._reasons))

    def close(self) -> None:
        """Flush; close the file if this writer opened it."""
        if self._sink is not None:
            self._sink.close()

    def __enter__(self) -> LineageWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_manifest(manifest: ManifestTarget) -> tuple[LineageWriter, bool]:
    """A writer for `manifest`, and whether the caller must close it (it made it)."""
    if isinstance(manifest, LineageWriter):
        return manifest, False
    return LineageWriter(manifest), True


def is_parquet(path: str | os.PathLike[str]) -> bool:
    """True for a manifest path that names a Parquet file."""
    return os.fspath(path).lower().endswith(".parquet")


def read_manifest(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The entries of a manifest file, in order, as the same dicts for either format
    (collected_at as ISO 8601 text or None)."""
    if is_parquet(path):
        yield from _parquet_entries(path)
        return
    with Path(path).open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def manifest_schema() -> Any:
    """The Arrow schema of a Parquet manifest."""
    pa = require("pyarrow", "arrow")
    text = pa.string()
    return pa.schema([*((name, text) for name in MANIFEST_FIELDS[:5]),
                      ("collected_at", pa.timestamp("us", tz="UTC")), ("region", text),
                      ("derived_from", pa.list_(text)), ("verdict", text), ("reason", text),
                      ("consent_version", pa.int64()), ("policy_version", text)])


def iso_time(micros: int) -> str:
    """ISO 8601 in UTC with a Z, to the second unless finer is needed (as the sidecar writes)."""
    moment = _EPOCH + timedelta(microseconds=micros)
    spec = "seconds" if moment.microsecond == 0 else "microseconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def _entry(record: pb.Record, decision: Decision) -> dict[str, Any]:
    return {
        "record_id": decision.record_id, "account_id": record.account_id,
        "user_id": record.user_id, "data_category": record.data_category,
        "purpose": record.purpose, "collected_at": _micros(record),
        "region": record.region, "derived_from": list(record.derived_from),
        "verdict": decision.verdict.value, "reason": decision.reason.value,
        "consent_version": decision.consent_version, "policy_version": decision.policy_version,
    }


def _micros(record: pb.Record) -> int | None:
    """collected_at in microseconds, or None when unset. A time no datetime can hold (one
    the client could not read) is None too: that record was denied as invalid, and only
    records that were allowed are ever re-decided."""
    if not record.HasField("collected_at"):
        return None
    stamp = record.collected_at
    if not -62_135_596_800 <= stamp.seconds <= _LAST_SECOND:
        return None
    return stamp.seconds * 1_000_000 + stamp.nanos // 1000


class _JsonLines:
    """Entries as JSON lines, to a path (opened and closed here) or an open text file."""

    def __init__(self, destination: str | os.PathLike[str] | IO[str]) -> None:
        self._owned = isinstance(destination, (str, os.PathLike))
        self._out: IO[str] = (open(destination, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
                              if isinstance(destination, (str, os.PathLike)) else destination)

    def write(self, entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            micros = entry["collected_at"]
            entry["collected_at"] = None if micros is None else iso_time(micros)
        self._out.write("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries))

    def close(self) -> None:
        self._out.flush()
        if self._owned:
            self._out.close()


class _Parquet:
    """Entries as Parquet row groups of ROW_GROUP rows; only one group is held at a time."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        pq = require("pyarrow.parquet", "arrow")
        self._schema = manifest_schema()
        self._writer: Any = pq.ParquetWriter(os.fspath(path), self._schema)
        self._held: list[dict[str, Any]] = []

    def write(self, entries: list[dict[str, Any]]) -> None:
        self._held += entries
        while len(self._held) >= ROW_GROUP:
            self._flush(self._held[:ROW_GROUP])
            del self._held[:ROW_GROUP]

    def close(self) -> None:
        if self._writer is None:
            return
        if self._held:
            self._flush(self._held)
            self._held = []
        self._writer.close()
        self._writer = None

    def _flush(self, entries: list[dict[str, Any]]) -> None:
        pa = require("pyarrow", "arrow")
        columns = {name: [e[name] for e in entries] for name in MANIFEST_FIELDS}
        self._writer.write_table(pa.Table.from_pydict(columns, schema=self._schema))


def _parquet_entries(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    pq = require("pyarrow.parquet", "arrow")
    pa = require("pyarrow", "arrow")
    for batch in pq.ParquetFile(os.fspath(path)).iter_batches(batch_size=ROW_GROUP):
        times = batch.column("collected_at").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        entries = batch.to_pylist()
        for entry, micros in zip(entries, times.to_pylist(), strict=True):
            entry["collected_at"] = None if micros is None else iso_time(micros)
        yield from entries
