"""Contract: what each write stores — times, ends, actors — for every backend."""

from __future__ import annotations

import pytest

from sidecar.core import ConsentIndex, Record, decide
from sidecar.core.model import Effect, Reason
from sidecar.core.times import parse_timestamp
from sidecar.policy_files import load_policy
from sidecar.store import ConsentRequest, ValidationError

POLICY = load_policy()


def _entry(account: str, effect: Effect, **fields) -> ConsentRequest:
    fields.setdefault("category", "service_generated")
    return ConsentRequest(account_id=account, purpose="ai.training", effect=effect, **fields)


def _decide(store, now: int, **record) -> Reason:
    snapshot = store.snapshot()
    index = ConsentIndex.build(snapshot.version, snapshot.rows, synced_at=now)
    fields = {"account_id": "acme", "data_category": "service_generated.telemetry",
              "purpose": "ai.training", "region": "US",
              "collected_at": parse_timestamp("2025-01-01T00:00:00Z")}
    return decide(Record(**{**fields, **record}), index, POLICY, now).reason


def test_grant_without_valid_from_starts_at_the_writers_clock(store, account, clock):
    """Skew can only delay a permission: the grant's start is the writer's time."""
    result = store.record_consent(_entry(account, Effect.GRANT), actor="t")
    assert result.row.valid_from == clock.now
    assert result.row.recorded_at == clock.now


def test_opt_out_without_valid_from_takes_effect_from_its_version(store, account, clock):
    """No start time is stored, so a reader's clock cannot put the opt-out in the future."""
    result = store.record_consent(_entry(account, Effect.OPT_OUT), actor="t")
    assert result.row.valid_from is None
    assert result.row.version == result.version
    # Even a reader whose clock lags far behind the writer's sees it bind.
    assert _decide(store, clock.now - 3_600_000_000) is Reason.DENIED_OPTED_OUT


def test_opt_out_with_valid_from_keeps_that_time(store, account, clock):
    """An explicit start is stored as given."""
    start = clock.now + 60_000_000
    result = store.record_consent(_entry(account, Effect.OPT_OUT, valid_from=start), actor="t")
    assert result.row.valid_from == start
    assert _decide(store, clock.now) is Reason.ALLOWED_BY_TERMS
    assert _decide(store, start) is Reason.DENIED_OPTED_OUT


def test_withdrawal_without_a_time_ends_the_entry_from_its_version(store, account, clock):
    """ended_version, not the writer's clock, ends the entry; the entry stays in history."""
    opt_out = store.record_consent(_entry(account, Effect.OPT_OUT), actor="t")
    withdrawn = store.withdraw(opt_out.row_id, actor="t")
    assert withdrawn.row.ended_version == withdrawn.version
    assert withdrawn.row.valid_until is None
    assert store.consent(opt_out.row_id) == withdrawn.row
    assert _decide(store, clock.now + 3_600_000_000) is Reason.ALLOWED_BY_TERMS


def test_withdrawal_at_a_time_sets_valid_until(store, account, clock):
    """An explicit end time is stored as valid_until; the entry is kept."""
    grant = store.record_consent(_entry(account, Effect.GRANT), actor="t")
    end = clock.now + 10_000_000
    withdrawn = store.withdraw(grant.row_id, at=end, actor="t")
    assert (withdrawn.row.valid_until, withdrawn.row.ended_version) == (end, None)
    assert len(store.consents(account)) == 1


def test_withdrawing_twice_is_refused(store, account):
    """An entry ends once; a second withdrawal says when it already ended."""
    grant = store.record_consent(_entry(account, Effect.GRANT), actor="t")
    store.withdraw(grant.row_id, actor="t")
    with pytest.raises(ValidationError, match="already withdrawn at consent version 3"):
        store.withdraw(grant.row_id, actor="t")


def test_every_write_records_its_actor(store, account):
    """recorded_by names who wrote each entry and erasure."""
    grant = store.record_consent(_entry(account, Effect.GRANT), actor="alice")
    erasure = store.request_erasure(account, "u1", actor="bob")
    assert (grant.row.recorded_by, erasure.row.recorded_by) == ("alice", "bob")


def test_erasure_binds_from_its_version(store, account, clock):
    """An erasure has no start time to skew: it binds as soon as its version is seen."""
    erasure = store.request_erasure(account, actor="t")
    assert erasure.row.version == erasure.version
    assert _decide(store, clock.now - 3_600_000_000) is Reason.DENIED_ERASURE


def test_account_region_is_stored_in_canonical_form(store):
    """Region codes are compared case-insensitively, so they are stored upper-case."""
    assert store.add_account("x", "us-ca", actor="t").row.region == "US-CA"
    assert store.update_account("x", "eu", actor="t").row.region == "EU"


def test_consents_lists_levels_as_asked(store, account):
    """None lists every level, '' the account level, a user id that user's entries."""
    store.record_consent(_entry(account, Effect.GRANT), actor="t")
    store.record_consent(_entry(account, Effect.OPT_OUT, user_id="u1"), actor="t")
    assert len(store.consents(account)) == 2
    assert [e.user_id for e in store.consents(account, "")] == [""]
    assert [e.user_id for e in store.consents(account, "u1")] == ["u1"]


def test_explicit_ids_are_kept(store, account):
    """A writer (an import) may choose the entry's id."""
    result = store.record_consent(_entry(account, Effect.GRANT, entry_id="g-1"), actor="t")
    assert result.row_id == "g-1"
    assert store.consent("g-1") == result.row
