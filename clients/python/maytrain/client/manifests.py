"""Lineage manifests of many workers in one directory — a file each, since Spark tasks, Ray
actors and `datasets` processes are separate processes that share no file — and reading
them back. `maytrain purge-plan --manifest DIR` reads the same files.

Each file is `manifest-<worker>-<random>.jsonl` (or `.parquet`), written by the client's
LineageWriter, so its lines are those of `filter(manifest=...)`. A file still being written
is either complete line by line (JSON Lines, flushed after every batch) or hidden until it
is complete (`staged`: a dot file, moved into place on close) — never a torn Parquet file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from maytrain.v1 import consent_pb2 as pb

from ._decisions import Decision, Reason, Verdict
from ._lineage import LineageWriter, read_manifest

if TYPE_CHECKING:
    from .arrow import ArrowData, ArrowDecisions

FORMATS = ("jsonl", "parquet")
PREFIX = "manifest-"


class PartManifest:
    """One worker's manifest in `directory`, named after `worker`.

    Unstaged (JSON Lines only), each batch is flushed as it is written: a worker that ends
    without warning (a Ray actor, a `datasets` process) still leaves every line it decided.
    Staged, the file is written under a hidden name and moved into place by `close()`, and
    removed by `discard()`: for Spark, where a failed task runs again and only a task that
    finished counts."""

    def __init__(self, directory: str | os.PathLike[str], worker: str, *,
                 format: str = "jsonl", staged: bool = False) -> None:  # noqa: A002 - the option's name
        if format not in FORMATS:
            raise ValueError(f"a manifest format is one of {FORMATS}, not {format!r}")
        if format == "parquet" and not staged:
            raise ValueError("a Parquet manifest is readable only once closed: write it staged")
        Path(directory).mkdir(parents=True, exist_ok=True)
        # A worker that runs again keeps its name: the random part keeps it from overwriting.
        self.path = Path(directory) / f"{PREFIX}{worker}-{uuid.uuid4().hex[:12]}.{format}"
        self._writing = self.path.with_name("." + self.path.name) if staged else self.path
        self._file: IO[str] | None = None
        if format == "jsonl":
            self._file = self._writing.open("w", encoding="utf-8")
        self._writer = LineageWriter(self._file if self._file is not None else self._writing)
        self._open = True

    def write(self, data: ArrowData, decisions: ArrowDecisions, *,
              columns: Mapping[str, str] | None = None, default_purpose: str = "") -> None:
        """Add the lines of one batch (an Arrow Table or RecordBatch and its decisions)."""
        from .arrow import records_from_arrow

        # As the sidecar decided them: a record without a purpose has the default one.
        records = records_from_arrow(data, columns, default_purpose=default_purpose)
        self._writer.write(records, decisions_of(records, decisions))
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Finish the file and, staged, put it in place."""
        if self._finish() and self._writing != self.path:
            os.replace(self._writing, self.path)

    def discard(self) -> None:
        """Leave nothing of this manifest (its worker failed and will run again)."""
        if self._finish():
            self._writing.unlink(missing_ok=True)

    def _finish(self) -> bool:
        """Close the writer once; True the first time."""
        if not self._open:
            return False
        self._open = False
        self._writer.close()
        if self._file is not None:
            self._file.close()
        return True

    def __enter__(self) -> PartManifest:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        # An error fails the worker; an early stop (GeneratorExit) keeps what was decided.
        if kind is not None and issubclass(kind, Exception):
            self.discard()
        else:
            self.close()


def decisions_of(records: Sequence[pb.Record], decisions: ArrowDecisions) -> list[Decision]:
    """Client decisions for the rows of an ArrowDecisions, with the records' ids."""
    rows = zip(records, decisions.allowed.to_pylist(), decisions.reason.to_pylist(),
               decisions.consent_version.to_pylist(), decisions.policy_version.to_pylist(),
               strict=True)
    return [Decision(record.record_id, Verdict.ALLOW if allowed else Verdict.DENY, Reason(reason),
                     consent_version=version, policy_version=policy)
            for record, allowed, reason, version, policy in rows]


def manifest_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The complete manifests in `directory`, in name order (hidden, staged ones left out)."""
    return sorted(path for path in Path(directory).iterdir()
                  if path.name.startswith(PREFIX) and path.suffix in (".jsonl", ".parquet")
                  and path.is_file())


def read_manifests(directory: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The entries of every manifest in `directory`, file by file."""
    for path in manifest_files(directory):
        yield from read_manifest(path)


def worker_name() -> str:
    """A name for this worker: this process's id (integrations add what they know)."""
    return f"pid{os.getpid()}"


__all__ = ["FORMATS", "PartManifest", "decisions_of", "manifest_files", "read_manifests",
           "worker_name"]
