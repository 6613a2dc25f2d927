"""JSON Lines: filter a file of records into another, keeping each allowed line as it was,
with a lineage manifest of every decision beside it."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from typing import IO, Any, Union

from ._lineage import FilterSummary, ManifestTarget, open_manifest
from ._records import RecordLike
from ._sync import ConsentClient

PathOrFile = Union[str, "os.PathLike[str]", IO[str]]


def filter_jsonl(client: ConsentClient, source: PathOrFile, destination: PathOrFile, *,
                 manifest: ManifestTarget = None,
                 as_record: Callable[[dict[str, Any]], RecordLike] | None = None,
                 min_consent_version: int = 0) -> FilterSummary:
    """Copy the allowed lines of `source` to `destination`; return what was decided.

    Each line is one JSON object holding the record's fields (other keys are payload);
    `as_record` maps an object to its record when the fields are named differently.
    """
    to_record = as_record or (lambda obj: obj)
    lineage, owned = open_manifest(manifest)
    try:
        with _opened(source, "r") as lines, _opened(destination, "w") as out:
            allowed = client.filter(_parsed(lines), as_record=lambda item: to_record(item[1]),
                                    manifest=lineage, min_consent_version=min_consent_version)
            for line, _ in allowed:
                out.write(line if line.endswith("\n") else line + "\n")
    finally:
        if owned:
            lineage.close()
    return lineage.summary()


def manifest_path(destination: str | os.PathLike[str]) -> str:
    """The conventional manifest beside an output file: `out.jsonl` -> `out.manifest.jsonl`."""
    root, ext = os.path.splitext(os.fspath(destination))
    return f"{root}.manifest{ext or '.jsonl'}"


def _parsed(lines: IO[str]) -> Iterator[tuple[str, Any]]:
    """(line, object) for each non-blank line; a line that is not JSON stops the run."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield line, json.loads(line)
        except ValueError as exc:
            raise ValueError(f"line {number} is not JSON: {exc}") from None


@contextlib.contextmanager
def _opened(target: PathOrFile, mode: str) -> Iterator[IO[str]]:
    """A text file for a path (closed afterwards) or the open file given (left open)."""
    if isinstance(target, (str, os.PathLike)):
        with open(target, mode, encoding="utf-8") as file:
            yield file
    else:
        yield target


__all__ = ["filter_jsonl", "manifest_path"]
