"""Contract: a refused write says what to fix and leaves the store and its version unchanged."""

from __future__ import annotations

import re

import pytest

from sidecar.core.model import Effect
from sidecar.store import (
    AccountRequest,
    ConsentRequest,
    ErasureRequest,
    NotFoundError,
    ValidationError,
)

T0 = 1_800_000_000_000_000


def _consent(**fields) -> ConsentRequest:
    base = dict(account_id="acme", category="customer_content", purpose="ai.training",
                effect=Effect.GRANT)
    return ConsentRequest(**{**base, **fields})


BAD_WRITES = {
    "unknown category": (lambda s: s.record_consent(_consent(category="customer"), actor="t"),
                         "category: 'customer' is not a category the policy declares"),
    "unknown purpose": (lambda s: s.record_consent(_consent(purpose="ai.trainin"), actor="t"),
                        "purpose: 'ai.trainin' is not a purpose"),
    "unknown account": (lambda s: s.record_consent(_consent(account_id="nope"), actor="t"),
                        "account: 'nope' is not in the store"),
    "erasure of unknown account": (lambda s: s.request_erasure("nope", actor="t"),
                                   "'nope' is not in the store"),
    "malformed region": (lambda s: s.add_account("beta", "Germany", actor="t"),
                         "region: 'Germany' is not an ISO 3166"),
    "malformed region update": (lambda s: s.update_account("acme", "D", actor="t"),
                                "region: 'D' is not an ISO 3166"),
    "existing account": (lambda s: s.add_account("acme", actor="t"), "'acme' already exists"),
    "valid_until before valid_from": (
        lambda s: s.record_consent(_consent(valid_from=T0, valid_until=T0), actor="t"),
        "valid_until: must be later than valid_from"),
    "opt-out ending before now": (
        lambda s: s.record_consent(_consent(effect=Effect.OPT_OUT, valid_until=1), actor="t"),
        "valid_until: must be later than valid_from (or than now"),
    "covers_data_from on an opt-out": (
        lambda s: s.record_consent(_consent(effect=Effect.OPT_OUT, covers_data_from=T0),
                                   actor="t"), "covers_data_from: only a grant covers data"),
    "a time that is not microseconds": (
        lambda s: s.record_consent(_consent(valid_from="2026-01-01"), actor="t"),
        "valid_from: must be a time in microseconds since the epoch"),
    "a time out of range": (
        lambda s: s.record_consent(_consent(valid_until=2**63), actor="t"),
        "valid_until: must be a time in microseconds"),
    "empty account id": (lambda s: s.add_account("", actor="t"), "account: is missing"),
    "id with surrounding spaces": (lambda s: s.add_account(" acme", actor="t"),
                                   "surrounding spaces"),
    "id with a control character": (lambda s: s.record_consent(_consent(user_id="u\n1"),
                                                               actor="t"), "user: "),
    "id too long": (lambda s: s.add_account("a" * 257, actor="t"), "longer than 256"),
    "duplicate explicit id": (lambda s: s.write([ErasureRequest("acme", erasure_id="e"),
                                                 ErasureRequest("acme", erasure_id="e")],
                                                actor="t"), "id: 'e' is used twice"),
    "entry before its account in a batch": (
        lambda s: s.write([_consent(account_id="late"), AccountRequest("late")], actor="t"),
        "'late' is not in the store"),
    "withdrawal at or before valid_from": (
        lambda s: s.withdraw("g1", at=T0, actor="t"), "at: is not after the entry's valid_from"),
}

MISSING = {
    "unknown entry": (lambda s: s.withdraw("nope", actor="t"), "'nope' is not in the store"),
    "update of unknown account": (lambda s: s.update_account("nope", "DE", actor="t"),
                                  "account 'nope' is not in the store"),
}


@pytest.fixture
def populated(store, account):
    """A store with an account and one grant (id g1, valid from T0)."""
    store.record_consent(_consent(entry_id="g1", valid_from=T0), actor="t")
    return store


def _state(store):
    return store.version(), store.snapshot(), store.changes_since(0)


@pytest.mark.parametrize("case", sorted(BAD_WRITES))
def test_invalid_write_is_refused_and_leaves_the_store_unchanged(populated, case):
    """Each malformed write raises ValidationError with a message naming what to fix."""
    write, message = BAD_WRITES[case]
    before = _state(populated)
    with pytest.raises(ValidationError, match=re.escape(message)):
        write(populated)
    assert _state(populated) == before


@pytest.mark.parametrize("case", sorted(MISSING))
def test_write_naming_a_missing_row_raises_not_found_and_changes_nothing(populated, case):
    """Updating an account or withdrawing an entry that does not exist is NotFoundError."""
    write, message = MISSING[case]
    before = _state(populated)
    with pytest.raises(NotFoundError, match=re.escape(message)):
        write(populated)
    assert _state(populated) == before


def test_a_refused_write_does_not_use_up_a_version(populated):
    """The next successful write takes the very next version: no gap in the feed."""
    with pytest.raises(ValidationError):
        populated.record_consent(_consent(category="nope"), actor="t")
    assert populated.add_account("beta", actor="t").version == 3
