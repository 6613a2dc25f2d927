"""Who re-decides a manifest's records: the store and policy read here (`StoreDecider`,
the sidecar's own columnar decision over an index loaded as a sidecar loads it), or a
running sidecar asked through CheckColumns (`SidecarDecider`).

Either answers a table of records with, per record, whether it is allowed now, the reason
and the consent version. A record a sidecar could not decide (stale, unavailable) is no
answer at all: the plan fails rather than list it for purging.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from maytrain.client import ConsentClient
from maytrain.client.arrow import decide_arrow

from ..core.policy import Policy
from ..store.protocol import ConsentReader
from .columns import columns_of
from .store_rules import ALLOWS, NO_ANSWER, REASON_NAMES, PlanFailed, StoreRules

_REASONS = pa.array(REASON_NAMES)


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
        self.rules = StoreRules(store, policy, min_version=min_version)
        self.index, self.now = self.rules.index, self.rules.now
        self.consent_version: int | None = self.index.version
        self.policy_version = policy.version

    def decide(self, table: pa.Table) -> Answers:
        rules = self.rules.of(columns_of(table))
        reasons = pa.DictionaryArray.from_arrays(pa.array(rules, pa.int8()), _REASONS)
        version = pa.repeat(pa.scalar(self.index.version, pa.int64()), len(rules))
        return Answers(ALLOWS[rules], reasons, version)


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
