"""The JSON Lines import: every row type, all or nothing, errors that name line and field."""

from __future__ import annotations

import json

import pytest

from sidecar.core.model import Account, ConsentEntry, Effect, Erasure
from sidecar.store import ValidationError
from sidecar.store.imports import import_batch, parse_lines, read_import

GOOD = [
    {"type": "account", "account": "acme", "region": "de"},
    {"type": "grant", "account": "acme", "category": "customer_content", "purpose": "ai",
     "valid_from": "2026-01-01T00:00:00Z", "covers_data_from": "2025-01-01T00:00:00+01:00",
     "evidence": "contract 7"},
    {"type": "opt_out", "id": "o1", "account": "acme", "user": "u1",
     "category": "service_generated", "purpose": "ai.training", "note": "ignored"},
    {"type": "erasure", "account": "acme", "user": "u2"},
]


def _lines(rows: list[dict]) -> list[str]:
    return [json.dumps(row) for row in rows]


def test_import_writes_every_row_type_in_file_order(store):
    """Accounts, grants, opt-outs and erasures, one version each."""
    result = import_batch(store, parse_lines(_lines(GOOD)), actor="loader")
    assert (result.version, result.count) == (4, 4)
    rows = [c.row for c in store.changes_since(0)]
    assert [type(r) for r in rows] == [Account, ConsentEntry, ConsentEntry, Erasure]
    assert rows[0].region == "DE"
    assert rows[1].covers_data_from == 1735686000000000
    assert (rows[2].entry_id, rows[2].effect, rows[2].valid_from) == ("o1", Effect.OPT_OUT, None)
    assert rows[3].recorded_by == "loader"


def test_blank_lines_are_skipped_but_counted(store):
    """Line numbers in errors match what an editor shows."""
    lines = ["", _lines(GOOD)[0], "   ", '{"type": "grant"}']
    with pytest.raises(ValidationError, match=r"^line 4: "):
        import_batch(store, parse_lines(lines), actor="t")


@pytest.mark.parametrize("line, message", [
    ("{not json", "line 2: not valid JSON"),
    ("[1, 2]", "line 2: each line must be a JSON object"),
    ('{"type": "consent"}', "line 2: type: 'consent' is not one of account, grant"),
    ('{"type": "account", "account": "b", "regoin": "DE"}', "line 2: regoin: unknown field"),
    ('{"type": "opt_out", "account": "acme", "category": "customer_content", "purpose": "ai",'
     ' "covers_data_from": "2026-01-01T00:00:00Z"}', "line 2: covers_data_from: unknown field"),
    ('{"type": "grant", "account": "acme", "category": "customer_content", "purpose": "ai",'
     ' "valid_from": "2026-01-01T00:00:00"}', "line 2: valid_from: timestamp '2026-01-01T00:00:00'"
                                               " has no time zone"),
    ('{"type": "grant", "account": "acme", "category": "customer_content", "purpose": "ai",'
     ' "valid_until": "yesterday"}', "line 2: valid_until: 'yesterday' is not an ISO 8601"),
    ('{"type": "account", "account": 7}', "line 2: account: must be a string"),
])
def test_a_malformed_line_is_named_with_its_field(line, message):
    """Parsing stops at the first bad line and says which field to fix."""
    with pytest.raises(ValidationError) as raised:
        parse_lines([_lines(GOOD)[0], line])
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize("row, message", [
    ({"type": "grant", "account": "acme", "category": "nope", "purpose": "ai"},
     "line 5: category: 'nope' is not a category"),
    ({"type": "erasure", "account": "ghost"},
     "line 5: account: 'ghost' is not in the store (nor added on an earlier line)"),
    ({"type": "account", "account": "acme"}, "line 5: account: 'acme' is added twice"),
    ({"type": "opt_out", "id": "o1", "account": "acme", "category": "customer_content",
      "purpose": "ai"}, "line 5: id: 'o1' is used twice"),
])
def test_a_bad_import_writes_nothing_and_names_the_line(store, row, message):
    """All or nothing: one bad line, and no row of the file is written."""
    batch = parse_lines(_lines(GOOD + [row]))
    with pytest.raises(ValidationError) as raised:
        import_batch(store, batch, actor="t")
    assert str(raised.value).startswith(message)
    assert store.version() == 0 and store.snapshot().rows == ()


def test_importing_rows_that_exist_is_refused(store):
    """An account or explicit id already in the store is an error, not an overwrite."""
    import_batch(store, parse_lines(_lines(GOOD)), actor="t")
    again = parse_lines(_lines(GOOD[2:3]))
    with pytest.raises(ValidationError, match="line 1: id: consent 'o1' already exists"):
        import_batch(store, again, actor="t")
    assert store.version() == 4


def test_an_empty_import_is_refused(store):
    """A file with no rows is almost certainly the wrong file."""
    with pytest.raises(ValidationError, match="holds no rows"):
        import_batch(store, parse_lines(["", ""]), actor="t")


def test_reading_a_missing_file_says_so(tmp_path):
    """The error names the path."""
    with pytest.raises(ValidationError, match="cannot read .*nope.jsonl"):
        read_import(tmp_path / "nope.jsonl")
