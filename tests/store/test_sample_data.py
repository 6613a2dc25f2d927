"""The sample data: every check documented in sidecar/samples/README.md is what decide() says."""

from __future__ import annotations

from importlib import resources

import pytest

from sidecar.clock import wall_clock
from sidecar.core import ConsentIndex, Reason, Record, decide
from sidecar.core.times import parse_timestamp
from sidecar.policy_files import load_policy
from sidecar.samples import load_sample, sample_batch
from sidecar.store import ValidationError

README = resources.files("sidecar.samples").joinpath("README.md").read_text("utf-8")
REQUIRED_REASONS = {"ALLOWED_BY_TERMS", "ALLOWED_BY_CONSENT", "DENIED_UNKNOWN_ACCOUNT",
                    "DENIED_ERASURE", "DENIED_BY_POLICY", "DENIED_OPTED_OUT",
                    "DENIED_OUTSIDE_WINDOW", "DENIED_NO_CONSENT"}


def documented_checks() -> list[dict[str, str]]:
    """The rows of the README's checks table, as field -> cell ('' for '-')."""
    block = README.split("<!-- checks:begin -->")[1].split("<!-- checks:end -->")[0]
    lines = [line for line in block.strip().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    return [{k: ("" if v == "-" else v) for k, v in zip(header, row, strict=True)} for row in rows]


CHECKS = documented_checks()


@pytest.fixture
def sample_index(store):
    """The consent index of a store holding the sample, current now."""
    load_sample(store, actor="test")
    snapshot = store.snapshot()
    now = wall_clock()
    return ConsentIndex.build(snapshot.version, snapshot.rows, synced_at=now), now


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: f"{c['account']}-{c['user']}-"
                         f"{c['category']}-{c['purpose']}-{c['collected_at']}-{c['region']}")
def test_documented_check_gives_the_documented_reason(sample_index, check):
    """The README's claim holds for the sample, decided now."""
    index, now = sample_index
    record = Record(account_id=check["account"], user_id=check["user"],
                    data_category=check["category"], purpose=check["purpose"],
                    region=check["region"], collected_at=(parse_timestamp(check["collected_at"])
                                                          if check["collected_at"] else None))
    decision = decide(record, index, load_policy(), now, explain=True)
    assert decision.reason is Reason[check["reason"]], decision.explanation


def test_readme_shows_every_reason_the_sample_is_for():
    """Each reason, the EU rule and user-level audio consent have a documented check."""
    assert {c["reason"] for c in CHECKS} >= REQUIRED_REASONS
    assert any(c["account"] == "sample-eu" and c["reason"] == "DENIED_NO_CONSENT" for c in CHECKS)
    assert any(c["category"] == "customer_content.audio" and c["user"]
               and c["reason"] == "ALLOWED_BY_CONSENT" for c in CHECKS)


def test_every_sample_account_is_documented():
    """The README's account table names each account the sample adds."""
    accounts = {r.account_id for r in sample_batch().requests}
    assert all(f"`{account}`" in README for account in accounts)


def test_loading_the_sample_twice_adds_nothing(store):
    """A second load finds every sample row and writes nothing."""
    first = load_sample(store, actor="t")
    assert first is not None and store.version() == first.count
    assert load_sample(store, actor="t") is None
    assert store.version() == first.count


def test_a_store_holding_part_of_the_sample_is_refused(store):
    """Half-loaded (an id clash) is an error, and nothing is written."""
    store.add_account("sample-eu", actor="someone")
    with pytest.raises(ValidationError, match="holds some sample rows"):
        load_sample(store, actor="t")
    assert store.version() == 1
