"""Purge plans where pyarrow is not installed (as in the sidecar's image): JSON Lines
manifests read a line at a time and re-decided by the same core as the Arrow plan, only
slower. A Parquet manifest needs pyarrow: it is refused before anything is read."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from maytrain.client import ConsentClient

from ..core.columnar import Column, Columns
from ..core.policy import Policy
from ..core.times import to_micros
from ..store.protocol import ConsentReader
from .lines import ManifestError, parse_entry
from .output import ALLOWING_REASONS, PLAN_FIELDS, PlanCounts, plan_line
from .paths import manifest_paths
from .store_rules import ALLOWS, NO_ANSWER, REASON_NAMES, PlanFailed, StoreRules

CHUNK = 65_536  # entries decided at a time
Entry = dict[str, Any]
Answers = tuple[npt.NDArray[np.bool_], list[str], list[int]]
_STRINGS = ("account_id", "user_id", "data_category", "purpose", "region")


class PlainReader:
    """Reads JSON Lines manifests in the order given, a chunk of entries at a time."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = manifest_paths(paths)
        parquet = [path for path in self.paths if path.lower().endswith(".parquet")]
        if parquet:
            raise ManifestError(f"{parquet[0]}: a Parquet manifest needs pyarrow, which this "
                                "install lacks (the sidecar image has none): pip install "
                                "pyarrow, or plan from JSON Lines manifests")
        self._sizes = [_size(path) for path in self.paths]
        self._read = 0  # bytes read of all the manifests

    @property
    def fraction(self) -> float:
        """How much of all the manifests has been read, from 0 to 1."""
        return min(1.0, self._read / (sum(self._sizes) or 1))

    def chunks(self) -> Iterator[list[Entry]]:
        """Every manifest's entries; ManifestError names the file and line of a bad one."""
        for path in self.paths:
            chunk: list[Entry] = []
            with open(path, "rb") as lines:
                for number, line in enumerate(lines, 1):
                    self._read += len(line)
                    if not line.strip():
                        continue
                    entry, problem = parse_entry(line)
                    if entry is None:
                        raise ManifestError(f"{path}:{number}: {problem}")
                    chunk.append(entry)
                    if len(chunk) == CHUNK:
                        yield chunk
                        chunk = []
            if chunk:
                yield chunk


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read it: {exc.strerror or exc}") from None


class PlainStoreDecider:
    """Decides entries against the store as it is now, under `policy`."""

    def __init__(self, store: ConsentReader, policy: Policy, *, min_version: int = 0) -> None:
        self.rules = StoreRules(store, policy, min_version=min_version)
        self.index, self.now = self.rules.index, self.rules.now
        self.consent_version: int | None = self.index.version
        self.policy_version = policy.version

    def decide(self, entries: list[Entry]) -> Answers:
        rules = self.rules.of(columns_of_entries(entries))
        return (ALLOWS[rules], [REASON_NAMES[rule] for rule in rules.tolist()],
                [self.index.version] * len(entries))


def columns_of_entries(entries: list[Entry]) -> Columns:
    """The records of manifest entries, for decide_columns (as columns.columns_of reads a
    table: null text is '', a null list is empty, a null time is no time)."""
    count = len(entries)
    strings = [_coded([entry.get(name) or "" for entry in entries]) for name in _STRINGS]
    derived = _coded([tuple(entry.get("derived_from") or ()) for entry in entries])
    times = [entry.get("collected_at") for entry in entries]
    micros = np.array([0 if text is None else to_micros(datetime.fromisoformat(text))
                       for text in times], np.int64)
    dated = np.array([text is not None for text in times], np.bool_)
    account, user, category, purpose, region = strings
    return Columns(count, account, user, category, purpose, region, derived,
                   Column.constant("", count), micros, dated)


def _coded(values: list[Any]) -> Column:
    seen: dict[Any, int] = {}
    codes = [seen.setdefault(value, len(seen)) for value in values]
    return Column(list(seen), np.array(codes, np.int32))


class PlainSidecarDecider:
    """Asks the sidecar behind `client` (through CheckBatch), at `min_version` or later."""

    def __init__(self, client: ConsentClient, *, min_version: int = 0) -> None:
        self.client, self.min_version = client, min_version
        self.consent_version: int | None = None  # the lowest version answered at
        self.policy_version = ""

    def decide(self, entries: list[Entry]) -> Answers:
        records = [{name: entry.get(name) for name in ("collected_at", "derived_from", *_STRINGS)}
                   for entry in entries]  # ids play no part in a decision
        decisions = self.client.check_many(records, min_consent_version=self.min_version)
        missing = [d.reason.value for d in decisions if d.reason.value in NO_ANSWER]
        if missing:
            raise PlanFailed(f"the sidecar at {self.client.config.target} could not decide "
                             f"{len(missing)} record(s) ({missing[0]}); nothing was planned: "
                             "run it again once it is serving")
        if decisions:
            lowest = min(d.consent_version for d in decisions)
            self.consent_version = min(lowest, self.consent_version or lowest)
            self.policy_version = decisions[0].policy_version
        return (np.array([d.allowed for d in decisions], np.bool_),
                [d.reason.value for d in decisions], [d.consent_version for d in decisions])


def make_plain_plan(reader: PlainReader, decider: PlainStoreDecider | PlainSidecarDecider,
                    out: IO[str], *, accounts: set[str] | None = None,
                    progress: Callable[[int], None] | None = None) -> PlanCounts:
    """Write the plan's lines to `out`; with `accounts`, re-decide only their records."""
    counts = PlanCounts()
    for entries in reader.chunks():
        counts.records += len(entries)
        taken = [e for e in entries
                 if e.get("verdict") == "ALLOW" and e.get("reason") in ALLOWING_REASONS]
        counts.allowed_when_taken += len(taken)
        if accounts is not None:
            taken = [e for e in taken if e.get("account_id") in accounts]
        if taken:
            _plan_entries(taken, decider, out, counts)
        if progress is not None:
            progress(counts.records)
    return counts


def _plan_entries(entries: list[Entry], decider: PlainStoreDecider | PlainSidecarDecider,
                  out: IO[str], counts: PlanCounts) -> None:
    """Re-decide some entries; write and count those now denied."""
    allowed, reasons, versions = decider.decide(entries)
    counts.redecided += len(entries)
    if decider.policy_version:
        counts.other_policy += sum((e.get("policy_version") or "") != decider.policy_version
                                   for e in entries)
    lines = []
    for entry, ok, reason, version in zip(entries, allowed.tolist(), reasons, versions,
                                          strict=True):
        if ok:
            continue
        row = (*(entry.get(name) for name in PLAN_FIELDS), entry.get("reason"),
               entry.get("consent_version"), reason, version)
        lines.append(plan_line(row))
        counts.by_reason[reason] += 1
        counts.by_account[entry.get("account_id")] += 1
    out.write("".join(lines))
    counts.to_purge += len(lines)
