"""`maytrain consent grant|opt-out|withdraw|list`: output, --json, exit codes, options."""

from __future__ import annotations

import getpass

import pytest

GRANT = ("consent", "grant", "--account", "acme", "--category", "customer_content",
         "--purpose", "ai.training")


@pytest.fixture
def with_account(initialized):
    """A store holding account acme (version 1)."""
    assert initialized("account", "add", "acme", "--region", "US").code == 0
    return initialized


def test_grant_prints_its_entry_id_and_the_new_version(with_account):
    """A write says which version it committed at, and the id of what it wrote."""
    result = with_account(*GRANT, "--valid-from", "2026-01-01T00:00:00Z")
    assert result.code == 0, result.err
    assert result.out.startswith("granted: entry con_")
    assert result.out.strip().endswith("at consent version 2")


def test_grant_with_json_prints_version_and_id(with_account):
    """--json gives a machine-readable answer."""
    answer = with_account(*GRANT, "--json").json()
    assert answer["consent_version"] == 2 and answer["id"].startswith("con_")


def test_opt_out_without_valid_from_is_listed_as_starting_at_its_version(with_account):
    """The list shows the opt-out binds from its version, not from a clock time."""
    opt_out = with_account("consent", "opt-out", "--account", "acme", "--user", "u1",
                           "--category", "service_generated", "--purpose", "ai", "--json").json()
    listed = with_account("consent", "list", "--account", "acme", "--json").json()
    entry = listed["entries"][0]
    assert (entry["id"], entry["valid_from"], entry["user"]) == (opt_out["id"], None, "u1")
    table = with_account("consent", "list", "--account", "acme").out
    assert "version 2" in table.splitlines()[1]


def test_withdraw_without_at_ends_the_entry_at_its_version(with_account):
    """The entry stays listed, marked withdrawn at the withdrawal's version."""
    entry_id = with_account(*GRANT, "--json").json()["id"]
    result = with_account("consent", "withdraw", entry_id, "--json")
    assert result.json() == {"consent_version": 3, "id": entry_id}
    listed = with_account("consent", "list", "--account", "acme", "--json").json()["entries"]
    assert [(e["id"], e["ended_version"]) for e in listed] == [(entry_id, 3)]


def test_withdraw_at_a_time_sets_valid_until(with_account):
    """--at ends the entry at that time."""
    entry_id = with_account(*GRANT, "--valid-from", "2026-01-01T00:00:00Z", "--json").json()["id"]
    at = "2026-02-01T00:00:00+01:00"
    assert with_account("consent", "withdraw", entry_id, "--at", at).code == 0
    listed = with_account("consent", "list", "--account", "acme", "--json").json()["entries"]
    assert listed[0]["valid_until"] == "2026-01-31T23:00:00Z"


@pytest.mark.parametrize("extra, message", [
    (("--valid-from", "2026-01-31T12:00:00"), "--valid-from: timestamp '2026-01-31T12:00:00' "
                                              "has no time zone"),
    (("--valid-until", "soon"), "--valid-until: 'soon' is not an ISO 8601 timestamp"),
    (("--valid-from", "2026-02-01T00:00:00Z", "--valid-until", "2026-01-01T00:00:00Z"),
     "valid_until: must be later than valid_from"),
])
def test_bad_times_exit_2_with_one_line_saying_what_to_fix(with_account, extra, message):
    """Validation errors exit 2; nothing is written."""
    result = with_account(*GRANT, *extra)
    assert result.code == 2
    assert result.err.startswith(f"maytrain: error: {message}")
    assert len(result.err.strip().splitlines()) == 1
    assert with_account("consent", "list", "--account", "acme", "--json").json()["entries"] == []


def test_an_unknown_category_or_account_exits_2(with_account):
    """Scopes must be declared by the policy; accounts must exist."""
    bad_category = with_account("consent", "grant", "--account", "acme", "--category",
                                "customer", "--purpose", "ai")
    assert bad_category.code == 2 and "category: 'customer' is not a category" in bad_category.err
    bad_account = with_account("consent", "opt-out", "--account", "ghost", "--category",
                               "customer_content", "--purpose", "ai")
    assert bad_account.code == 2 and "'ghost' is not in the store" in bad_account.err


def test_withdrawing_an_unknown_entry_exits_2(with_account):
    """A consent id that does not exist is a mistake the caller can fix."""
    result = with_account("consent", "withdraw", "con_nope")
    assert result.code == 2 and "'con_nope' is not in the store" in result.err


def test_listing_an_unknown_account_exits_2(initialized):
    """Listing an account the store does not know is refused, not an empty list."""
    result = initialized("consent", "list", "--account", "ghost")
    assert result.code == 2 and "account 'ghost' is not in the store" in result.err


def test_every_write_records_the_actor(with_account):
    """--actor is recorded; without it, the operating-system user."""
    with_account(*GRANT, "--actor", "pipeline-bot")
    with_account(*GRANT)
    entries = with_account("consent", "list", "--account", "acme", "--json").json()["entries"]
    assert [e["recorded_by"] for e in entries] == ["pipeline-bot", getpass.getuser()]


def test_a_policy_file_changes_what_a_grant_may_name(with_account, tmp_path):
    """--policy (or $MAYTRAIN_POLICY) validates writes against that policy."""
    policy = tmp_path / "policy.toml"
    policy.write_text('purposes = ["research"]\n[categories.notes]\nbasis = "consent"\n')
    args = ("consent", "grant", "--account", "acme", "--category", "notes", "--purpose",
            "research")
    assert with_account(*args).code == 2
    assert with_account(*args, "--policy", str(policy)).code == 0
    assert with_account(*args, MAYTRAIN_POLICY=str(policy)).code == 0


def test_a_broken_policy_file_exits_2(with_account, tmp_path):
    """A policy that cannot be used is a usage error, reported in one line."""
    (tmp_path / "bad.toml").write_text("purposes = [")
    result = with_account(*GRANT, "--policy", "bad.toml")
    assert result.code == 2 and result.err.startswith("maytrain: error: bad.toml: not valid TOML")
