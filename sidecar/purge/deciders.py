"""Who re-decides a manifest's records: the store and policy read here (`StoreDecider`,
the sidecar's own columnar decision over an index loaded as a sidecar loads it), or a
running sidecar asked through CheckColumns (`SidecarDecider`).

Either answers a table of records with, per record, whether it is allowed now, the reason
and the consent version. A record a sidecar could not decide (stale, unavailable) is no
answer at all: the plan fails rather than list it for purging.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from maytrain.client import ConsentClient
from maytrain.client.arrow import decide_arrow

from ..clock import wall_clock
from ..core.columnar import decide_columns
from ..core.compact import BaseWriter, CompactBase
from ..core.index import AccountRows, ConsentIndex
from ..core.model import Micros, Rule
from ..core.plans import PlanCache
from ..core.policy import Policy
from ..store.protocol import ConsentReader
from ..sync import latest_time
from .columns import columns_of
from .folding import UserFolder

_ALLOWS = np.zeros(max(Rule) + 1, np.bool_)
for _rule in Rule:
    _ALLOWS[_rule] = _rule.allows
_REASONS = pa.array([Rule(r).reason.value if r in Rule._value2member_map_ else ""
                     for r in range(max(Rule) + 1)])
UNPACKED = 131_072
"""Accounts kept unpacked while planning: a manifest visits its accounts again and again,
in no order (the sidecar keeps 4,096)."""
NO_ANSWER = ("DENIED_STALE_CACHE", "DENIED_UNAVAILABLE", "UNSPECIFIED")
"""Reasons that say the sidecar did not decide: never a reason to purge."""


class PlanFailed(Exception):
    """The plan cannot be made (the message says why and what to do)."""


class Answers(NamedTuple):
    """The decisions on a table's records, in order."""

    allowed: npt.NDArray[np.bool_]
    reason: pa.Array
    consent_version: pa.Array


class Decider(Protocol):
    """Re-decides records now; `consent_version` is the version every answer reflects."""

    consent_version: int | None
    policy_version: str

    def decide(self, table: pa.Table) -> Answers: ...


class StoreDecider:
    """Decides against the store as it is now, under `policy`."""

    def __init__(self, store: ConsentReader, policy: Policy, *, min_version: int = 0) -> None:
        index, latest = load_index(store)
        if index.version < min_version:
            raise PlanFailed(f"the store is at consent version {index.version}, below the "
                             f"--min-version {min_version} asked for")
        # As the sidecar's clock: never below a time the store has written at.
        self.now: Micros = max(wall_clock(), latest or 0)
        self.index, self.policy = index.confirmed(self.now), policy
        self.consent_version: int | None = index.version
        self.policy_version = policy.version
        self._plans = PlanCache(limit=1 << 21)  # across tables: each distinct record once
        self._users = UserFolder(self.index)

    def decide(self, table: pa.Table) -> Answers:
        columns = self._users.fold(columns_of(table))
        rules = decide_columns(columns, self.index, self.policy, self.now, cache=self._plans)
        reasons = pa.DictionaryArray.from_arrays(pa.array(rules, pa.int8()), _REASONS)
        version = pa.repeat(pa.scalar(self.index.version, pa.int64()), len(rules))
        return Answers(_ALLOWS[rules], reasons, version)


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


class SidecarDecider:
    """Asks the sidecar behind `client`, demanding answers at `min_version` or later."""

    def __init__(self, client: ConsentClient, *, min_version: int = 0) -> None:
        self.client, self.min_version = client, min_version
        self.consent_version: int | None = None  # the lowest version answered at
        self.policy_version = ""

    def decide(self, table: pa.Table) -> Answers:
        records = table.drop_columns(["record_id"])  # ids play no part in a decision
        decisions = decide_arrow(self.client, records, min_consent_version=self.min_version)
        _refuse_no_answers(decisions.reason, self.client.config.target)
        if len(table):
            lowest = pc.min(decisions.consent_version).as_py()
            self.consent_version = min(lowest, self.consent_version or lowest)
            self.policy_version = decisions.policy_version[0].as_py()
        allowed = np.asarray(decisions.allowed.to_numpy(zero_copy_only=False), np.bool_)
        return Answers(allowed, decisions.reason, decisions.consent_version.cast(pa.int64()))


def _refuse_no_answers(reasons: Any, target: str) -> None:
    """PlanFailed when the sidecar did not decide some records."""
    missing = pc.is_in(reasons, value_set=pa.array(NO_ANSWER))
    count = pc.sum(missing).as_py() or 0
    if count:
        first = reasons.filter(missing)[0].as_py()
        raise PlanFailed(f"the sidecar at {target} could not decide {count} record(s) "
                         f"({first}); nothing was planned: run it again once it is serving")
