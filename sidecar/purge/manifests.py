"""Lineage manifests read as Arrow tables of one shape, a chunk at a time, whatever their
format (JSON Lines or Parquet, as the client's LineageWriter writes them).

JSON Lines are cut into chunks at line ends and parsed by pyarrow, many times faster than
a json.loads per line. A chunk that does not parse (or holds another number of entries than
lines) is read again line by line, only to say which line is wrong: ManifestError names
the file and the line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

from maytrain.client._lineage import MANIFEST_FIELDS

from .lines import REQUIRED, ManifestError, entry_problem, line_problem
from .paths import manifest_paths

CHUNK = 32 << 20
ROWS = 262_144  # Parquet rows a table
TIME = pa.timestamp("us", tz="UTC")
_TEXT = pa.string()
SHAPE = pa.schema([*((name, _TEXT) for name in MANIFEST_FIELDS[:5]), ("collected_at", TIME),
                   ("region", _TEXT), ("derived_from", pa.list_(_TEXT)), ("verdict", _TEXT),
                   ("reason", _TEXT), ("consent_version", pa.int64()),
                   ("policy_version", _TEXT)])
"""Every table read has these columns, in this order."""
_AS_READ = pa.schema([field if field.name != "collected_at" else pa.field("collected_at", _TEXT)
                      for field in SHAPE])
_PARSING = pj.ParseOptions(explicit_schema=_AS_READ, unexpected_field_behavior="ignore")


class ManifestReader:
    """Reads manifests in the order given (a directory: the manifests in it); `fraction`
    says how far it has got (by size)."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = manifest_paths(paths)
        self._sizes = [_size(path) for path in paths]
        self._done = 0  # bytes of the manifests finished
        self._current = 0.0  # the share of the manifest in progress already read

    @property
    def fraction(self) -> float:
        """How much of all the manifests has been read, from 0 to 1."""
        total = sum(self._sizes) or 1
        index = min(self._done, len(self._sizes))
        held = sum(self._sizes[:index]) + self._current * (self._sizes[index]
                                                           if index < len(self._sizes) else 0)
        return min(1.0, held / total)

    def tables(self) -> Iterator[pa.Table]:
        """Every manifest's entries, as tables of SHAPE."""
        for path in self.paths:
            self._current = 0.0
            read = _parquet if path.lower().endswith(".parquet") else _json_lines
            for table, fraction in read(path):
                self._current = fraction
                yield table
            self._done += 1


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read it: {exc.strerror or exc}") from None


def _json_lines(path: str) -> Iterator[tuple[pa.Table, float]]:
    """The chunks of a JSON Lines manifest, parsed; the first line must hold every field."""
    size, line = _size(path) or 1, 1
    with Path(path).open("rb") as file:
        while chunk := _next_chunk(file):
            if line == 1:
                _check_first(path, chunk)
            yield _parsed(path, chunk, line), file.tell() / size
            line += chunk.count(b"\n")


def _next_chunk(file: object) -> bytes:
    """About CHUNK bytes ending at a line end (or the end of the file)."""
    chunk = file.read(CHUNK)  # type: ignore[attr-defined]
    if chunk and not chunk.endswith(b"\n"):
        chunk += file.readline()  # type: ignore[attr-defined]
    return bytes(chunk)


def _check_first(path: str, chunk: bytes) -> None:
    """A manifest whose first entry lacks a field was written before it could be re-decided."""
    first = next((text for text in chunk.split(b"\n", 8) if text.strip()), b"")
    problem = line_problem(first) if first else ""
    if problem:
        raise ManifestError(f"{path}:1: {problem}")


def _parsed(path: str, chunk: bytes, line: int) -> pa.Table:
    """One chunk as a table of SHAPE; ManifestError at the first line that is wrong."""
    try:
        table = pj.read_json(pa.BufferReader(chunk),
                             read_options=pj.ReadOptions(block_size=1 << 20),
                             parse_options=_PARSING)
        if table.num_rows == chunk.count(b"\n") + (not chunk.endswith(b"\n")):
            return _timed(table)
        problem = "its entries do not fit its lines"  # a blank line, or two objects on one
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        table, problem = None, str(exc)
    _find_bad_line(path, chunk, line)
    if table is None:
        last = line + chunk.count(b"\n")
        raise ManifestError(f"{path}: lines {line} to {last}: {problem}")
    return _timed(table)  # only blank lines were in the way


def _find_bad_line(path: str, chunk: bytes, line: int) -> None:
    """Raise ManifestError for the first line of the chunk that is not a manifest entry."""
    for number, text in enumerate(chunk.splitlines(), line):
        if text.strip() and (problem := line_problem(text)):
            raise ManifestError(f"{path}:{number}: {problem}")


def _timed(table: pa.Table) -> pa.Table:
    """collected_at as a UTC timestamp (the lines were checked, so every text reads as one)."""
    times = table.column("collected_at").cast(TIME)
    return table.set_column(table.schema.get_field_index("collected_at"), "collected_at", times)


def _parquet(path: str) -> Iterator[tuple[pa.Table, float]]:
    """The row groups of a Parquet manifest, a few at a time, as tables of SHAPE."""
    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ManifestError(f"{path}: not a Parquet file: {exc}") from None
    names = file.schema_arrow.names
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise ManifestError(f"{path}: no column {', '.join(missing)}: not a manifest that can "
                            "be re-decided (one written by an older client?)")
    present = [name for name in MANIFEST_FIELDS if name in names]
    total, row = max(1, file.metadata.num_rows), 0
    for batch in file.iter_batches(batch_size=ROWS, columns=present):
        yield _shaped(path, pa.Table.from_batches([batch]), row), (row + batch.num_rows) / total
        row += batch.num_rows


def _shaped(path: str, table: pa.Table, row: int) -> pa.Table:
    """A Parquet table cast to SHAPE; ManifestError names the first row that will not cast."""
    columns = []
    for field in SHAPE:
        if field.name not in table.schema.names:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        try:
            columns.append(table.column(field.name).cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            values = table.column(field.name).to_pylist()
            at = next((i for i, value in enumerate(values)
                       if entry_problem({field.name: value}, only=field.name)), 0)
            raise ManifestError(f"{path}: row {row + at + 1}: {field.name}: {exc}") from None
    return pa.Table.from_arrays(columns, schema=SHAPE)
