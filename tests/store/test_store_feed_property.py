"""Property: a snapshot at some version plus the later changes gives the same decisions as a
fresh snapshot at the final version, for random sequences of writes through the store API."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.core import ConsentIndex, Record, decide_batch
from sidecar.core.model import Effect
from sidecar.policy_files import load_policy
from sidecar.store import ConsentRequest, NotFoundError, ValidationError, open_store

POLICY = load_policy()
HOUR = 3_600_000_000
T0 = 1_790_000_000_000_000
ACCOUNTS = ["a0", "a1", "a2"]
USERS = ["", "u1", "u2"]
SCOPES = ["service_generated", "service_generated.telemetry", "customer_content",
          "customer_content.chat", "customer_content.audio", "customer_content.derived",
          "account_data", "bogus"]
PURPOSES = ["ai", "ai.training", "ai.training.generative", "ai.evaluation",
            "product_improvement"]
LEAVES = ["service_generated.telemetry", "customer_content.chat", "customer_content.audio",
          "customer_content.derived.transcript", "account_data.billing"]
RECORD_PURPOSES = ["ai", "ai.training.generative", "ai.evaluation", "product_improvement"]
COLLECTED = [None, T0 - 100 * HOUR, T0, T0 + 50 * HOUR]
NOWS = [T0 - HOUR, T0 + 12 * HOUR, T0 + 200 * HOUR]

hours = st.one_of(st.none(), st.integers(-72, 120).map(lambda h: T0 + h * HOUR))
starts = st.one_of(st.none(), st.integers(-72, 12).map(lambda h: T0 + h * HOUR))
regions = st.sampled_from(["", "US", "de", "EU", "US-CA", "bad region"])
operations = st.one_of(
    st.tuples(st.just("account"), st.sampled_from(ACCOUNTS + ["a9"]), regions),
    st.tuples(st.just("update"), st.sampled_from(ACCOUNTS), regions),
    st.tuples(st.just("consent"), st.sampled_from(ACCOUNTS), st.sampled_from(USERS),
              st.sampled_from(SCOPES), st.sampled_from(PURPOSES), st.sampled_from(Effect),
              starts, hours, starts),
    st.tuples(st.just("withdraw"), st.integers(0, 30), hours),
    # Mostly user erasures: an account erasure hides every other rule of that account.
    st.tuples(st.just("erasure"), st.sampled_from(ACCOUNTS),
              st.sampled_from(["u1", "u2", "u1", "u2", ""])),
)


PRELUDE = [("account", "a0", "US"), ("account", "a1", "DE"), ("account", "a2", "")]


def apply(store, operation, entry_ids: list[str]) -> None:
    """Run one write; refused writes are part of the sequence (they must change nothing)."""
    kind, *args = operation
    try:
        if kind == "account":
            store.add_account(args[0], args[1], actor="p")
        elif kind == "update":
            store.update_account(args[0], args[1], actor="p")
        elif kind == "consent":
            entry_ids.append(store.record_consent(_consent(*args), actor="p").row_id)
        elif kind == "withdraw" and entry_ids:
            store.withdraw(entry_ids[args[0] % len(entry_ids)], at=args[1], actor="p")
        elif kind == "erasure":
            store.request_erasure(args[0], args[1], actor="p")
    except (ValidationError, NotFoundError):
        pass


def _consent(account, user, category, purpose, effect, start, end, covers) -> ConsentRequest:
    return ConsentRequest(account, category, purpose, effect, user_id=user, valid_from=start,
                          valid_until=end,
                          covers_data_from=covers if effect is Effect.GRANT else None)


RECORDS = [Record(account_id=a, user_id=u, data_category=c, purpose=p, collected_at=t)
           for a, u, c, p, t in itertools.product(ACCOUNTS + ["a9"], USERS, LEAVES,
                                                  RECORD_PURPOSES, COLLECTED)]


def decisions(index: ConsentIndex) -> list:
    """The reasons for every record, at several moments."""
    return [d.reason for now in NOWS
            for d in decide_batch(RECORDS, index.confirmed(now), POLICY, now)]


def follow(store, index: ConsentIndex, page: int) -> ConsentIndex:
    """Apply the feed after the index's version, page by page, as the sync layer will."""
    while changes := store.changes_since(index.version, limit=page):
        index = index.apply(changes)
    return index


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=st.lists(operations, min_size=1, max_size=40), split=st.integers(0, 43),
       page=st.integers(1, 7))
def test_snapshot_plus_changes_decides_like_a_fresh_snapshot(new_store_url, drawn, split, page):
    """Following the feed from any snapshot reaches the same decisions as starting over."""
    ops, clock = PRELUDE + drawn, itertools.count(T0, 1_000_000)
    with open_store(new_store_url(), create=True, clock=lambda: next(clock), policy=POLICY) as store:
        entry_ids: list[str] = []
        for operation in ops[:split]:
            apply(store, operation, entry_ids)
        early = store.snapshot()
        for operation in ops[split:]:
            apply(store, operation, entry_ids)
        final = store.snapshot()
        followed = follow(store, ConsentIndex.build(early.version, early.rows), page)
    fresh = ConsentIndex.build(final.version, final.rows)
    assert followed.version == fresh.version
    assert decisions(followed) == decisions(fresh)
