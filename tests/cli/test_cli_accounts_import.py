"""`maytrain account`, `maytrain erasure request` and `maytrain import`."""

from __future__ import annotations

import json

from sidecar.policy_files import load_policy
from sidecar.store import open_store


def test_account_add_and_update_print_the_new_version(initialized):
    """Regions are stored in canonical form and echoed back."""
    added = initialized("account", "add", "acme", "--region", "us-ca")
    assert added.code == 0
    assert added.out.strip() == "added account acme (region US-CA) at consent version 1"
    updated = initialized("account", "update", "acme", "--region", "eu", "--json")
    assert updated.json() == {"consent_version": 2, "id": "acme", "region": "EU"}


def test_account_errors_exit_2(initialized):
    """A malformed region, a duplicate or an unknown account is the caller's to fix."""
    assert initialized("account", "add", "acme", "--region", "Germany").code == 2
    assert initialized("account", "add", "acme").code == 0
    duplicate = initialized("account", "add", "acme")
    assert duplicate.code == 2 and "'acme' already exists" in duplicate.err
    assert initialized("account", "update", "ghost", "--region", "DE").code == 2


def test_erasure_request_prints_its_id_and_version(initialized):
    """An erasure is a write like any other."""
    initialized("account", "add", "acme")
    result = initialized("erasure", "request", "--account", "acme", "--user", "u1", "--json")
    assert result.code == 0
    assert result.json()["consent_version"] == 2 and result.json()["id"].startswith("era_")


def _write(path, rows) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


ROWS = [
    {"type": "account", "account": "acme", "region": "DE"},
    {"type": "grant", "account": "acme", "category": "customer_content", "purpose": "ai"},
    {"type": "opt_out", "account": "acme", "user": "u1", "category": "customer_content.chat",
     "purpose": "ai.training"},
    {"type": "erasure", "account": "acme", "user": "u2"},
]


def test_import_loads_a_json_lines_file(initialized, tmp_path):
    """Every row is written, one version each; the answer gives the range."""
    _write(tmp_path / "bulk.jsonl", ROWS)
    result = initialized("import", "bulk.jsonl", "--json")
    assert result.code == 0, result.err
    assert result.json() == {"consent_version": 4, "rows": 4, "first_version": 1,
                             "packed_version": 4}


def test_import_packs_the_store_so_a_cold_start_reads_no_rows(initialized, tmp_path):
    """After a bulk load the store holds a packed base at the import's last version."""
    _write(tmp_path / "bulk.jsonl", ROWS)
    result = initialized("import", "bulk.jsonl")
    assert result.code == 0, result.err
    assert result.out.strip() == ("imported 4 rows at consent versions 1-4; packed the store "
                                  "at consent version 4")
    store = open_store(f"sqlite:///{tmp_path / 'maytrain.db'}", policy=load_policy())
    try:
        info = store.packed_base_info()
    finally:
        store.close()
    assert info is not None and info.version == 4


def test_import_no_pack_leaves_the_packed_base_alone(initialized, tmp_path):
    _write(tmp_path / "bulk.jsonl", ROWS)
    result = initialized("import", "bulk.jsonl", "--no-pack", "--json")
    assert result.json() == {"consent_version": 4, "rows": 4, "first_version": 1}
    store = open_store(f"sqlite:///{tmp_path / 'maytrain.db'}", policy=load_policy())
    try:
        assert store.packed_base_info() is None
    finally:
        store.close()


def test_import_reads_stdin_for_a_dash(initialized):
    """`maytrain import -` reads the rows from standard input."""
    result = initialized("import", "-", stdin="".join(json.dumps(r) + "\n" for r in ROWS))
    assert result.code == 0
    assert result.out.startswith("imported 4 rows at consent versions 1-4; packed")


def test_a_bad_import_names_line_and_field_and_writes_nothing(initialized, tmp_path):
    """All or nothing: exit 2, the line and the field, and the store still at version 0."""
    _write(tmp_path / "bulk.jsonl", ROWS[:2] + [{**ROWS[2], "purpose": "ai.nope"}] + ROWS[3:])
    result = initialized("import", "bulk.jsonl")
    assert result.code == 2
    assert result.err.startswith("maytrain: error: line 3: purpose: 'ai.nope' is not a purpose")
    assert initialized("store", "init", "--json").json()["consent_version"] == 0


def test_importing_a_missing_file_exits_2(initialized):
    """The error names the file."""
    result = initialized("import", "nope.jsonl")
    assert result.code == 2 and "cannot read nope.jsonl" in result.err


def test_import_with_a_bad_snapshot_key_writes_nothing(initialized, tmp_path):
    """The key is read before the import: a pack that could not be sealed never starts."""
    _write(tmp_path / "bulk.jsonl", ROWS)
    result = initialized("import", "bulk.jsonl", "--snapshot-key-file", "missing.key")
    assert result.code != 0 and "missing.key" in result.err
    assert initialized("import", "bulk.jsonl", "--json").json()["first_version"] == 1
