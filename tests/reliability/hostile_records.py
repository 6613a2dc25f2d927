"""Hypothesis strategies for hostile wire records and requests, on the sample data.

Each drawn record also says which of its fields hold a value the design calls malformed
(`broken`), decided here from curated lists and not by the code under test, so a test can
hold the sidecar to "never ALLOW an invalid record" without asking decide() what invalid
means. Random junk is marked neither way: only the differential check judges it.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from maytrain.v1 import consent_pb2
from sidecar.policy_files import load_policy

POLICY = load_policy()
ACCOUNTS = ["sample-terms", "sample-opted-out", "sample-consented", "sample-erased",
            "sample-eu", "no-such-account"]
USERS = ["", "alice", "bob", "carol", "dana", "erin"]
LEAVES = sorted(POLICY.categories.leaves)
NODES = sorted(POLICY.categories.nodes)
PURPOSES = sorted(POLICY.purposes.nodes)
REGIONS = ["US", "us", "DE", "de", "FR", "fr", "EU", "eu", "US-CA", "us-ca", "GB", "JP"]

BAD_IDS = [" sample-terms", "sample-terms ", "sample\nterms", "sample\x00terms", "\u200b",
           "\t", "x" * 257, "\u00e9" * 300]
BAD_CATEGORIES = ["customer_content", "service_generated", "customer", "customer_content.chat.x",
                  "CUSTOMER_CONTENT.CHAT", "customer_content.chat ", ".customer_content.chat",
                  "customer_content..chat", "ai.training", "\u0441ustomer_content.chat"]
BAD_PURPOSES = ["ai.train", "AI.TRAINING", "ai.", "training", "customer_content",
                "ai.training.generative.x", " ai", "ai\x00"]
BAD_REGIONS = ["D", "DEU", "E U", "12", "US-", "US-CALIF", "FR ", " FR", "-", "U5", "de-",
               "\u00c9U", "U\u0307S"]
BAD_SOURCES = ["", "customer", "customer_content.chat.x", "CUSTOMER_CONTENT", "ai.training"]

MIN_SECONDS, MAX_SECONDS = -62_135_596_800, 253_402_300_799  # 0001-01-01 .. 9999-12-31
# The times a verdict turns on: terms effective, the sample grants' covers and valid_from.
EDGES = [1_690_416_000, 1_704_067_200, 1_735_689_600]
INT64, INT32 = 2**63, 2**31

junk_text = st.text(st.characters(codec="utf-8"), max_size=12)
huge_text = st.sampled_from([300, 5_000, 70_000]).map(lambda n: "\u00e9" * n)


@dataclass(frozen=True)
class Drawn:
    """A hostile wire record, the fields known to be malformed, and how its purpose stands
    ('good', 'bad', 'junk' or 'empty': an empty one takes the request's default)."""

    message: consent_pb2.Record
    broken: frozenset[str]
    purpose: str


def _field(good: st.SearchStrategy, bad: list[str], junk: st.SearchStrategy = junk_text,
           good_weight: int = 4) -> st.SearchStrategy:
    """(value, state) for one string field: state 'good', 'bad' or 'junk'."""
    branches = [good.map(lambda v: (v, "good"))] * good_weight
    return st.one_of(*branches, st.sampled_from(bad).map(lambda v: (v, "bad")),
                     junk.map(lambda v: (v, "junk")))


def seconds_and_nanos(hostile: bool = True) -> st.SearchStrategy:
    """(seconds, nanos, state) of a set collected_at, in range or (when `hostile`) not."""
    near_edges = st.sampled_from(EDGES).flatmap(lambda t: st.integers(t - 2, t + 2))
    recent = st.integers(1_735_689_600, 1_800_000_000)  # after every sample grant's start
    good_seconds = st.one_of(recent, recent, near_edges, st.integers(1_600_000_000, 1_800_000_000),
                             st.sampled_from([MIN_SECONDS, MAX_SECONDS, 0, -1]),
                             st.integers(MIN_SECONDS, MAX_SECONDS))
    good_nanos = st.one_of(st.just(0), st.sampled_from([1, 999, 999_999_999]),
                           st.integers(0, 999_999_999))
    bad_seconds = st.one_of(st.sampled_from([MIN_SECONDS - 1, MAX_SECONDS + 1, -INT64, INT64 - 1]),
                            st.integers(-INT64, MIN_SECONDS - 1), st.integers(MAX_SECONDS + 1, INT64 - 1))
    bad_nanos = st.one_of(st.sampled_from([-1, 1_000_000_000, INT32 - 1, -INT32]),
                          st.integers(-INT32, -1), st.integers(1_000_000_000, INT32 - 1))
    good = st.tuples(good_seconds, good_nanos, st.just("good"))
    if not hostile:
        return good
    return st.one_of(good, good, good,
                     st.tuples(bad_seconds, good_nanos | bad_nanos, st.just("bad")),
                     st.tuples(good_seconds, bad_nanos, st.just("bad")))


def unknown_fields() -> st.SearchStrategy:
    """Serialized fields with numbers no maytrain message declares, of every wire type."""
    number = st.sampled_from([9, 15, 16, 100, 2047, 19_500, 536_870_911])
    one = st.tuples(number, st.sampled_from([0, 1, 2, 5]), st.binary(max_size=16))
    return st.lists(one, max_size=3).map(lambda fields: b"".join(_encode(*f) for f in fields))


def _encode(number: int, wire: int, payload: bytes) -> bytes:
    tag = _varint(number << 3 | wire)
    if wire == 0:
        return tag + _varint(int.from_bytes(payload[:9] or b"\0", "little") & (2**64 - 1))
    if wire == 1:
        return tag + payload[:8].ljust(8, b"\0")
    if wire == 5:
        return tag + payload[:4].ljust(4, b"\0")
    return tag + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


FIELDS = ("account_id", "user_id", "data_category", "purpose", "region", "derived_from",
          "collected_at")
# Records the sample allows (sidecar/samples/README.md), so that ALLOWs are common.
ALLOWING = [("sample-terms", "", "service_generated.telemetry", "ai.training"),
            ("sample-terms", "erin", "service_generated.usage", "ai"),
            ("sample-opted-out", "erin", "service_generated.usage", "product_improvement"),
            ("sample-consented", "", "customer_content.chat", "ai.training.generative"),
            ("sample-consented", "alice", "customer_content.audio", "ai.training"),
            ("sample-consented", "", "customer_content.document", "ai.evaluation"),
            ("sample-eu", "", "service_generated.telemetry", "product_improvement")]


@st.composite
def _plausible(draw) -> dict[str, str]:
    """Well-formed values for the string fields: an allowed sample record, or any mix."""
    if draw(st.sampled_from([True, True, False])):
        account, user, category, purpose = draw(st.sampled_from(ALLOWING))
        region = draw(st.sampled_from(["", "", "", "", "US", "de"]))
    else:
        account, user, category, purpose = (draw(st.sampled_from(v)) for v in (
            ACCOUNTS, USERS, LEAVES, PURPOSES))
        region = draw(st.sampled_from([""] * len(REGIONS) + REGIONS))
    return {"account_id": account, "user_id": user, "data_category": category,
            "purpose": purpose, "region": region}


@st.composite
def records(draw, huge: bool = True) -> Drawn:
    """A record with no hostile field, one, or any number (`huge`: ids and source lists up
    to 70,000 characters and 400 entries); each hostile field is curated-bad or junk."""
    mode = draw(st.sampled_from(["clean", "clean", "one", "one", "any"]))
    chosen = draw(st.sampled_from(FIELDS))
    hostile = {name: mode == "any" or (mode == "one" and name == chosen) for name in FIELDS}
    big = huge_text if huge else st.nothing()
    values, states = draw(_plausible()), {}
    for name, bad, junk in (
            ("account_id", BAD_IDS + [""], junk_text | big), ("user_id", BAD_IDS, junk_text),
            ("data_category", BAD_CATEGORIES + [""], junk_text),
            ("purpose", BAD_PURPOSES, junk_text | st.just("")), ("region", BAD_REGIONS, junk_text)):
        if hostile[name]:
            values[name], states[name] = draw(_field(st.just(values[name]), bad, junk, 1))
    derived, derived_broken = draw(_sources(huge, hostile["derived_from"]))
    record_id = draw(st.one_of(st.just(""), st.text(max_size=8), big, junk_text))
    message = consent_pb2.Record(record_id=record_id, derived_from=derived, **values)
    kind = draw(st.sampled_from(["set", "set", "set", "unset", "epoch"]))
    stamp = draw(seconds_and_nanos(hostile["collected_at"])) if kind == "set" else kind
    if stamp == "epoch":
        message.collected_at.SetInParent()
    elif stamp != "unset":
        message.collected_at.seconds, message.collected_at.nanos, states["collected_at"] = stamp
    extra = draw(unknown_fields())
    if extra:
        message = consent_pb2.Record.FromString(message.SerializeToString() + extra)
    broken = {name for name, state in states.items() if state == "bad" and name != "purpose"}
    purpose = "empty" if values["purpose"] == "" else states.get("purpose", "good")
    return Drawn(message, frozenset(broken | ({"derived_from"} if derived_broken else set())),
                 purpose)


@st.composite
def _sources(draw, huge: bool, hostile: bool) -> tuple[list[str], bool]:
    """derived_from entries: none mostly, else declared nodes (and junk when `hostile`);
    rarely very many."""
    nodes = st.sampled_from(NODES)
    entry = _field(nodes, BAD_SOURCES) if hostile else nodes.map(lambda v: (v, "good"))
    kind = draw(st.sampled_from(["none"] * 4 + ["some"] * 2 + ["many"] * huge))
    if kind == "none":
        return [], False
    drawn = draw(st.lists(entry, min_size=1, max_size=4))
    if kind == "many":
        drawn = drawn * 100
    return [v for v, _ in drawn], any(state == "bad" for _, state in drawn)


default_purposes = _field(st.sampled_from(PURPOSES), BAD_PURPOSES, junk_text | st.just(""))
"""(default_purpose, state) for a batch or stream request."""


@st.composite
def batches(draw, max_size: int = 12, huge: bool = True) -> tuple[list[Drawn], str, str]:
    """Records drawn from a small pool, so that equal keys recur in one batch, with the
    request's default purpose and its state."""
    pool = draw(st.lists(records(huge), min_size=1, max_size=4))
    chosen = draw(st.lists(st.sampled_from(pool) | records(huge), max_size=max_size))
    default, state = draw(default_purposes)
    return chosen, default, "empty" if default == "" else state


def purpose_broken(drawn: Drawn, default_state: str | None) -> bool | None:
    """True when the purpose the record ends up with is known malformed, None if unknown.
    `default_state` None means the call has no default purpose (Check)."""
    if drawn.purpose == "empty":
        if default_state is None or default_state in ("empty", "bad"):
            return True
        return None if default_state == "junk" else False
    return {"bad": True, "junk": None}.get(drawn.purpose, False)


def known_broken(drawn: Drawn, default_state: str | None) -> bool:
    """True when some field is known malformed, so that the record must be invalid."""
    return bool(drawn.broken) or purpose_broken(drawn, default_state) is True
