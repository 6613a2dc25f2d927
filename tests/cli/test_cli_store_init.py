"""`maytrain store init [--sample]`, store selection, and how failures are reported."""

from __future__ import annotations

import sqlite3


def test_store_init_creates_the_default_store_in_the_working_directory(maytrain, tmp_path):
    """Without --store or $MAYTRAIN_STORE the store is ./maytrain.db."""
    result = maytrain("store", "init")
    assert result.code == 0, result.err
    assert "created the consent store sqlite:///maytrain.db (schema version 3)" in result.out
    assert "consent version 0" in result.out
    assert (tmp_path / "maytrain.db").is_file()


def test_rerunning_store_init_reports_the_store_is_up_to_date(initialized):
    """init is harmless to repeat."""
    result = initialized("store", "init", "--json")
    assert result.code == 0
    assert result.json() == {"store": "sqlite:///maytrain.db", "schema_version": 3,
                             "created": False, "migrated": False, "consent_version": 0}


def test_store_init_sample_loads_once(maytrain):
    """--sample loads the documented sample; a second run adds nothing and succeeds."""
    first = maytrain("store", "init", "--sample", "--json").json()
    second = maytrain("store", "init", "--sample", "--json").json()
    assert (first["sample"], first["sample_rows"]) == ("loaded", first["consent_version"])
    assert first["consent_version"] > 0
    assert (second["sample"], second["consent_version"]) == ("already loaded",
                                                             first["consent_version"])


def test_store_url_comes_from_the_flag_then_the_environment(maytrain, tmp_path):
    """--store wins over $MAYTRAIN_STORE, which wins over the default."""
    assert maytrain("store", "init", MAYTRAIN_STORE="sqlite:///env.db").code == 0
    assert maytrain("store", "init", "--store", f"sqlite:///{tmp_path}/flag.db",
                    MAYTRAIN_STORE="sqlite:///env.db").code == 0
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["env.db", "flag.db"]


def test_common_options_are_accepted_before_the_command(maytrain, tmp_path):
    """`maytrain --store URL --json store init` works like putting them after."""
    result = maytrain("--store", "sqlite:///early.db", "--json", "store", "init")
    assert result.code == 0 and result.json()["store"] == "sqlite:///early.db"


def test_a_command_on_a_missing_store_fails_with_one_line_and_creates_nothing(maytrain, tmp_path):
    """Only init creates a store; every other command exits 1 and says what to run."""
    result = maytrain("account", "add", "acme")
    assert result.code == 1
    assert result.err.strip().splitlines() == [
        "maytrain: error: no consent store at maytrain.db: create one with `maytrain store init`"]
    assert list(tmp_path.iterdir()) == []


def test_a_garbage_store_file_is_reported_without_a_traceback(maytrain, tmp_path):
    """A corrupt store exits 1 with one readable line; the file is left as it was."""
    (tmp_path / "maytrain.db").write_bytes(b"garbage" * 500)
    for args in (["consent", "list", "--account", "a"], ["store", "init"]):
        result = maytrain(*args)
        assert result.code == 1
        assert result.err.startswith("maytrain: error: maytrain.db is not a readable consent")
        assert "Traceback" not in result.err
    assert (tmp_path / "maytrain.db").read_bytes() == b"garbage" * 500


def test_store_init_refuses_a_foreign_database(maytrain, tmp_path):
    """An SQLite file that is not a maytrain store is never reshaped."""
    conn = sqlite3.connect(tmp_path / "maytrain.db")
    conn.execute("CREATE TABLE mine (x)")
    conn.commit()
    conn.close()
    result = maytrain("store", "init")
    assert result.code == 1 and "not a maytrain consent store" in result.err


def test_usage_errors_exit_2(maytrain):
    """argparse's own errors: a missing command or a missing required option."""
    assert maytrain().code == 2
    assert maytrain("consent").code == 2
    assert maytrain("consent", "grant", "--account", "a").code == 2


def test_an_unsupported_store_url_exits_1(maytrain):
    """A URL no backend understands is reported in one line."""
    result = maytrain("store", "init", "--store", "mysql://db/x")
    assert result.code == 1 and "unsupported store URL 'mysql://db/x'" in result.err
