"""The JSON Lines import format: one account, grant, opt-out or erasure per line.

    {"type": "account", "account": "acme", "region": "DE"}
    {"type": "grant", "account": "acme", "category": "customer_content", "purpose": "ai.training",
     "valid_from": "2026-01-01T00:00:00Z"}
    {"type": "opt_out", "account": "acme", "user": "u1", "category": "service_generated",
     "purpose": "ai"}
    {"type": "erasure", "account": "acme", "user": "u2"}

Optional fields: user, region, id (grants, opt-outs, erasures), valid_from, valid_until,
covers_data_from (grants), evidence, and note (ignored). Blank lines are skipped. An
import is written all or nothing; an error names the line and the field.

`import_file` streams a file of any size in bounded memory: a first pass parses every
line and counts the rows, a second parses it again a slice at a time into one write
transaction (`write_slices`), so a failure anywhere still leaves the store unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..core.errors import InvalidValueError
from ..core.model import Effect, Micros
from ..core.times import parse_timestamp
from .errors import ValidationError
from .protocol import ConsentStore, WriteResult
from .requests import AccountRequest, ConsentRequest, ErasureRequest, WriteRequest

SLICE = 20_000
"""Rows parsed, checked and written at a time by `import_file`."""

_COMMON = {"type", "account", "note"}
_ENTRY = _COMMON | {"id", "user", "category", "purpose", "valid_from", "valid_until", "evidence"}
FIELDS = {
    "account": _COMMON | {"region"},
    "grant": _ENTRY | {"covers_data_from"},
    "opt_out": _ENTRY,
    "erasure": _COMMON | {"id", "user"},
}
_EFFECTS = {"grant": Effect.GRANT, "opt_out": Effect.OPT_OUT}


@dataclass
class ImportBatch:
    """The requests of an import file, each with the line it came from."""

    requests: list[WriteRequest] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)


def parse_lines(lines: Iterable[str]) -> ImportBatch:
    """Parse JSON Lines into requests; ValidationError names the first bad line and field."""
    batch = ImportBatch()
    for number, request in numbered_requests(lines):
        batch.requests.append(request)
        batch.lines.append(number)
    return batch


def numbered_requests(lines: Iterable[str]) -> Iterator[tuple[int, WriteRequest]]:
    """Each non-blank line's request with its line number; ValidationError names the line."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield number, parse_line(line)
        except ValidationError as exc:
            raise exc.at_line(number) from None


def parse_line(line: str) -> WriteRequest:
    """One request from one line of JSON."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValidationError("", f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ValidationError("", "each line must be a JSON object")
    kind = obj.get("type")
    allowed = FIELDS.get(kind) if isinstance(kind, str) else None
    if allowed is None:
        raise ValidationError("type", f"{kind!r} is not one of {', '.join(FIELDS)}")
    for key, value in obj.items():
        if key not in allowed:
            raise ValidationError(key, f"unknown field for {kind} "
                                       f"(expected one of {', '.join(sorted(allowed))})")
        if not isinstance(value, str):
            raise ValidationError(key, f"must be a string, not {json.dumps(value)}")
    return _request(kind, obj)


def _request(kind: str, obj: dict[str, str]) -> WriteRequest:
    get = obj.get
    if kind == "account":
        return AccountRequest(get("account", ""), get("region", ""))
    if kind == "erasure":
        return ErasureRequest(get("account", ""), get("user", ""), get("id", ""))
    return ConsentRequest(
        account_id=get("account", ""), category=get("category", ""),
        purpose=get("purpose", ""), effect=_EFFECTS[kind], user_id=get("user", ""),
        valid_from=_time(obj, "valid_from"), valid_until=_time(obj, "valid_until"),
        covers_data_from=_time(obj, "covers_data_from"), evidence=get("evidence", ""),
        entry_id=get("id", ""))


_PARSED: dict[str, Micros] = {}


def _time(obj: dict[str, str], key: str) -> Micros | None:
    value = obj.get(key)
    if value is None:
        return None
    # Bulk files repeat a handful of timestamps; remember the ones already parsed.
    if (known := _PARSED.get(value)) is not None:
        return known
    try:
        parsed = parse_timestamp(value)
    except InvalidValueError as exc:
        raise ValidationError(key, str(exc)) from None
    if len(_PARSED) < 100_000:
        _PARSED[value] = parsed
    return parsed


def read_import(path: str | Path) -> ImportBatch:
    """Parse an import file; ValidationError when it cannot be read or a line is bad."""
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_lines(handle)
    except OSError as exc:
        raise ValidationError("", f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ValidationError("", f"{path} is not UTF-8 text ({exc.reason})") from None


def import_batch(store: ConsentStore, batch: ImportBatch, *, actor: str) -> WriteResult:
    """Write a parsed batch all or nothing; the result holds the last version written."""
    if not batch.requests:
        raise ValidationError("", "the import holds no rows")
    return store.write(batch.requests, actor=actor, lines=batch.lines)


class SliceWriter(Protocol):
    """A store that writes requests arriving a slice at a time in one transaction."""

    def write_slices(self, count: int, slices: Iterable[tuple[Sequence[WriteRequest],
                                                             Sequence[int]]], *,
                     actor: str) -> WriteResult:
        """Write `count` requests, all or nothing."""


def import_file(store: SliceWriter, path: str | Path, *, actor: str,
                slice_size: int = SLICE) -> WriteResult:
    """Import a file in bounded memory, all or nothing; ValidationError names the line."""
    count = sum(len(requests) for requests, _ in _slices(path, slice_size))
    if not count:
        raise ValidationError("", "the import holds no rows")
    return store.write_slices(count, _slices(path, slice_size), actor=actor)


def _slices(path: str | Path,
            size: int) -> Iterator[tuple[list[WriteRequest], list[int]]]:
    """The file's requests and their line numbers, `size` at a time."""
    try:
        with open(path, encoding="utf-8") as handle:
            batch = ImportBatch()
            for number, request in numbered_requests(handle):
                batch.requests.append(request)
                batch.lines.append(number)
                if len(batch.requests) >= size:
                    yield batch.requests, batch.lines
                    batch = ImportBatch()
            if batch.requests:
                yield batch.requests, batch.lines
    except OSError as exc:
        raise ValidationError("", f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ValidationError("", f"{path} is not UTF-8 text ({exc.reason})") from None
