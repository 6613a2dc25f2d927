"""The store as it is now, under a policy: the rule that decides each record of a manifest
now, with the index loaded as a sidecar loads it. No pyarrow: plans of JSON Lines manifests
use it where pyarrow is not installed (`plain`), and the Arrow deciders build on it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import numpy.typing as npt

from ..clock import wall_clock
from ..core.columnar import Columns, decide_columns
from ..core.compact import BaseWriter, CompactBase
from ..core.index import AccountRows, ConsentIndex
from ..core.model import Micros, Rule
from ..core.plans import PlanCache
from ..core.policy import Policy
from ..store.protocol import ConsentReader
from ..sync import latest_time
from .folding import UserFolder

ALLOWS = np.zeros(max(Rule) + 1, np.bool_)
for _rule in Rule:
    ALLOWS[_rule] = _rule.allows
REASON_NAMES = [Rule(r).reason.value if r in Rule._value2member_map_ else ""
                for r in range(max(Rule) + 1)]
"""The reason of each rule, by its number."""
UNPACKED = 131_072
"""Accounts kept unpacked while planning: a manifest visits its accounts again and again,
in no order (the sidecar keeps 4,096)."""
NO_ANSWER = ("DENIED_STALE_CACHE", "DENIED_UNAVAILABLE", "UNSPECIFIED")
"""Reasons that say the sidecar did not decide: never a reason to purge."""


class PlanFailed(Exception):
    """The plan cannot be made (the message says why and what to do)."""


class StoreRules:
    """Decides records against the store as it is now, under `policy`."""

    def __init__(self, store: ConsentReader, policy: Policy, *, min_version: int = 0) -> None:
        index, latest = load_index(store)
        if index.version < min_version:
            raise PlanFailed(f"the store is at consent version {index.version}, below the "
                             f"--min-version {min_version} asked for")
        # As the sidecar's clock: never below a time the store has written at.
        self.now: Micros = max(wall_clock(), latest or 0)
        self.index, self.policy = index.confirmed(self.now), policy
        self._plans = PlanCache(limit=1 << 21)  # across tables: each distinct record once
        self._users = UserFolder(self.index)

    def of(self, columns: Columns) -> npt.NDArray[np.uint8]:
        """The rule that decides each record now, in order."""
        return decide_columns(self._users.fold(columns), self.index, self.policy, self.now,
                              cache=self._plans)


def load_index(store: ConsentReader) -> tuple[ConsentIndex, Micros | None]:
    """The store's consent index, loaded as a sidecar loads it, and the latest write time."""
    latest = _LatestTime()
    if getattr(type(store), "snapshot_grouped", None) is not None:
        writer = BaseWriter()  # as ConsentIndex.from_groups, with more accounts kept unpacked
        with store.snapshot_grouped() as (version, _chain, groups):  # type: ignore[attr-defined]
            for account_id, account, entries, erasures in latest.watch(groups):
                writer.add_rows(account_id, account, entries, erasures)
        base = CompactBase(memoryview(writer.built()), cached=UNPACKED)
        return ConsentIndex.on(base, version), latest.value
    snapshot = store.snapshot()
    return ConsentIndex.build(snapshot.version, snapshot.rows), latest_time(snapshot.rows)


class _LatestTime:
    """The latest write time among the account groups streamed past it."""

    def __init__(self) -> None:
        self.value: Micros | None = None

    def watch(self, groups: Iterable[AccountRows]) -> Iterator[AccountRows]:
        for group in groups:
            _, account, entries, erasures = group
            found = latest_time([*([account] if account else ()), *entries, *erasures])
            if found is not None and (self.value is None or found > self.value):
                self.value = found
            yield group


