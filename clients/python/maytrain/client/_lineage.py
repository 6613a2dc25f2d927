"""The lineage manifest: one JSON line per record filtered — what it was, and the
decision with its consent and policy versions — so a training set can be audited and
purged later. Lines are in the order of the input."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Union

from maytrain.v1 import consent_pb2 as pb

from ._decisions import Decision

ManifestTarget = Union[str, "os.PathLike[str]", IO[str], "LineageWriter", None]


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
    """Writes manifest lines to a path or an open text file, and counts what it saw."""

    def __init__(self, destination: str | os.PathLike[str] | IO[str] | None) -> None:
        self._out: IO[str] | None
        self._owned = isinstance(destination, (str, os.PathLike))
        if isinstance(destination, (str, os.PathLike)):
            self._out = open(destination, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        else:
            self._out = destination
        self._reasons: Counter[str] = Counter()
        self._allowed = 0

    def write(self, records: Sequence[pb.Record], decisions: Sequence[Decision]) -> None:
        """Record the decisions on one chunk of records."""
        for decision in decisions:
            self._reasons[decision.reason.value] += 1
            self._allowed += decision.allowed
        if self._out is not None:
            self._out.write("".join(_line(r, d) for r, d in zip(records, decisions, strict=True)))

    def summary(self) -> FilterSummary:
        """What has been written so far."""
        return FilterSummary(sum(self._reasons.values()), self._allowed, dict(self._reasons))

    def close(self) -> None:
        """Flush; close the file if this writer opened it."""
        if self._out is not None:
            self._out.flush()
            if self._owned:
                self._out.close()

    def __enter__(self) -> LineageWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_manifest(manifest: ManifestTarget) -> tuple[LineageWriter, bool]:
    """A writer for `manifest`, and whether the caller must close it (it made it)."""
    if isinstance(manifest, LineageWriter):
        return manifest, False
    return LineageWriter(manifest), True


def read_manifest(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The entries of a manifest file, in order."""
    with Path(path).open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _line(record: pb.Record, decision: Decision) -> str:
    entry = {
        "record_id": decision.record_id, "account_id": record.account_id,
        "user_id": record.user_id, "data_category": record.data_category,
        "purpose": record.purpose, "verdict": decision.verdict.value,
        "reason": decision.reason.value, "consent_version": decision.consent_version,
        "policy_version": decision.policy_version,
    }
    return json.dumps(entry, separators=(",", ":")) + "\n"
