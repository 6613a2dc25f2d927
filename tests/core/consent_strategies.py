"""Hypothesis strategies for consent states and records small enough to collide often."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from sidecar.core import (
    Account,
    ConsentEntry,
    ConsentIndex,
    Decision,
    Effect,
    Erasure,
    Record,
    decide_batch,
)
from sidecar.core.times import parse_timestamp
from sidecar.policy_files import load_policy

POLICY = load_policy()
NOW = parse_timestamp("2026-06-01T00:00:00Z")
SECOND = 1_000_000
TIMES = [parse_timestamp(t) for t in (
    "2021-01-01T00:00:00Z", "2023-07-27T00:00:00Z", "2024-06-01T00:00:00Z",
    "2026-05-31T00:00:00Z", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z")]
# a4's region is an alias (GR); a5's was stored before such codes were refused.
ACCOUNTS = [Account("a1", "US"), Account("a2", "de"), Account("a3", ""), Account("a4", "el"),
            Account("a5", "EU-DE")]
ACCOUNT_IDS = ["a1", "a2", "a3", "a4", "ghost"]
USERS = ["", "u1", "u2"]
LEAVES = sorted(POLICY.categories.leaves)
# Broad scopes repeat so that grants often apply; undeclared keys still bind by prefix.
CATEGORY_SCOPES = (sorted(POLICY.categories.nodes) + ["customer", "customer_content.chat.x"]
                   + ["customer_content", "service_generated"] * 6)
PURPOSE_SCOPES = sorted(POLICY.purposes.nodes)
ENTRY_PURPOSES = PURPOSE_SCOPES + ["ai"] * 6
# Countries, subdivisions and groups in both cases, and malformed codes.
REGIONS = ["us", "DE", "fr-idf", "EU", "eu", "US-CA", "gb", "el", "UK", "XX", "EU-DE", "x!"]
BROAD = ["customer_content", "service_generated", "customer_content.audio"]
SOURCES = ["customer_content", "customer_content.chat", "customer_content.audio",
           "service_generated.usage", "account_data.billing"]

times = st.sampled_from(TIMES)
maybe_time = st.none() | times


@st.composite
def entries(draw, effect: Effect | None = None, prefix: str = "e") -> ConsentEntry:
    """A consent entry on a few accounts and users, with any scope and window; one in three
    is a plain standing account grant, so that consent is often given. Ids start with
    `prefix`: an entry added to a scenario needs its own, or it would replace one."""
    entry_id = f"{prefix}{draw(st.integers(0, 10**9))}"
    account_id = draw(st.sampled_from(ACCOUNT_IDS[:4]))
    if effect is None and draw(st.integers(0, 2)) == 0:
        return ConsentEntry(entry_id, account_id, draw(st.sampled_from(BROAD)), "ai",
                            Effect.GRANT, valid_from=draw(st.sampled_from(TIMES[:3])))
    return ConsentEntry(
        entry_id=entry_id, account_id=account_id,
        user_id=draw(st.sampled_from(["", "", ""] + USERS)),
        category=draw(st.sampled_from(CATEGORY_SCOPES)),
        purpose=draw(st.sampled_from(ENTRY_PURPOSES)),
        effect=effect or draw(st.sampled_from([Effect.GRANT, Effect.GRANT, Effect.OPT_OUT])),
        valid_from=draw(maybe_time), valid_until=draw(st.sampled_from([None] * 4 + TIMES)),
        covers_data_from=draw(st.sampled_from([None] * 4 + TIMES)),
        ended_version=draw(st.sampled_from([None, None, None, 1])))


def erasures(prefix: str = "x") -> st.SearchStrategy[Erasure]:
    """An erasure of an account or a user; ids start with `prefix` (see `entries`)."""
    return st.builds(Erasure, erasure_id=st.integers(0, 10**9).map(lambda i: f"{prefix}{i}"),
                     account_id=st.sampled_from(ACCOUNT_IDS[:4]),
                     user_id=st.sampled_from(USERS))

# Malformed values and unknown accounts are drawn rarely, so later rules are reached often.
records = st.builds(
    Record, account_id=st.sampled_from(ACCOUNT_IDS[:4] * 6 + ["a5", "ghost", ""]),
    data_category=st.sampled_from(LEAVES * 2 + ["customer_content"]),
    purpose=st.sampled_from(PURPOSE_SCOPES * 3 + ["ads"]), user_id=st.sampled_from(USERS),
    collected_at=st.sampled_from(TIMES * 2 + [None]),
    region=st.sampled_from([""] * 12 + REGIONS),
    derived_from=st.sampled_from([()] * 6 + [(s,) for s in SOURCES]),
    record_id=st.just(""), problem=st.sampled_from([""] * 30 + ["bad timestamp"]))


@dataclass(frozen=True)
class Scenario:
    """A consent state, how old the cache is, and records to decide against it."""

    accounts: list
    entries: list
    erasures: list
    cache_age: int | None
    records: list

    def index(self, entries=None, erasures=None) -> ConsentIndex | None:
        """The consent index of the scenario (None for a cache that never synced)."""
        if self.cache_age is None:
            return None
        rows = self.accounts + (self.entries if entries is None else entries)
        rows += self.erasures if erasures is None else erasures
        return ConsentIndex.build(5, rows, synced_at=NOW - self.cache_age * SECOND)

    def decide(self, entries=None, erasures=None, records=None) -> list[Decision]:
        return decide_batch(self.records if records is None else records,
                            self.index(entries, erasures), POLICY, NOW)


@st.composite
def scenarios(draw) -> Scenario:
    """Mostly fresh caches, sometimes empty or stale ones, so rule 2 is reached too.
    Accounts are always the same five; records name an unknown one now and then."""
    return Scenario(
        accounts=ACCOUNTS,
        entries=draw(st.lists(entries(), max_size=10, unique_by=lambda e: e.entry_id)),
        erasures=draw(st.sampled_from([[]] * 4 + [[draw(erasures())]])),
        cache_age=draw(st.sampled_from([1] * 15 + [31, None])),
        records=draw(st.lists(records, min_size=1, max_size=8)))
