"""The warm-start snapshot file: round trip, and refusal of corrupt, forged, foreign,
future-dated and older-format files; the key; what a killed writer leaves behind."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from sidecar.core import Account, ConsentEntry, ConsentIndex, Effect, Erasure
from sidecar.snapshot_file import FORMAT, read_snapshot, write_snapshot
from sidecar.snapshot_seal import SnapshotKeyError, read_key, seal
from sidecar.snapshot_writer import SnapshotWriter

STORE = "sqlite:///x.db"
NOW = 1_750_000_000_000_000  # 2025-06-15, microseconds
YEAR = 365 * 24 * 3600 * 1_000_000
KEY, OTHER_KEY = b"k" * 32, b"o" * 32
OPT_OUT = ConsentEntry("c3", "a1", "customer_content.chat", "ai", Effect.OPT_OUT, version=4)
ROWS = [Account("a1", "DE", 5), ConsentEntry("c1", "a1", "customer_content", "ai", Effect.GRANT,
                                              valid_from=7, evidence="signed", version=2),
        ConsentEntry("c2", "a1", "service_generated", "ai", Effect.OPT_OUT, user_id="u1",
                     ended_version=4), OPT_OUT, Erasure("e1", "a1", "u2", version=3)]


def saved(tmp_path: Path, key: bytes | None = None, synced_at: int = NOW - 1_000_000) -> Path:
    path = tmp_path / "cache" / "snapshot"
    write_snapshot(path, ConsentIndex.build(4, ROWS, synced_at=synced_at), STORE, key)
    return path


def read(path: Path, key: bytes | None = None, now: int = NOW) -> ConsentIndex | None:
    return read_snapshot(path, STORE, now=now, key=key)


def parts(path: Path) -> tuple[dict, dict, list[dict]]:
    """The seal line, the header and the rows of a snapshot file."""
    seal_line, header, *rows = path.read_text().splitlines()
    return json.loads(seal_line), json.loads(header), [json.loads(row) for row in rows]


def forge(path: Path, header: dict, rows: list[dict], *, label: str = "sha256",
          key: bytes | None = None) -> None:
    """Rewrite the file as a forger would: new content, its seal recomputed (with `key`)."""
    payload = "".join(json.dumps(line) + "\n" for line in [header, *rows]).encode()
    line = {"format": FORMAT, "seal": label, "digest": seal(payload, key)}
    path.write_bytes(json.dumps(line).encode() + b"\n" + payload)


def test_a_snapshot_reads_back_the_same_rows_version_and_sync_time(tmp_path: Path) -> None:
    index = read(saved(tmp_path))
    assert index is not None and (index.version, index.synced_at) == (4, NOW - 1_000_000)
    assert sorted(map(repr, index.rows())) == sorted(map(repr, ROWS))


def test_a_keyed_snapshot_reads_back_with_the_same_key(tmp_path: Path) -> None:
    index = read(saved(tmp_path, KEY), KEY)
    assert index is not None and sorted(map(repr, index.rows())) == sorted(map(repr, ROWS))


def test_writing_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = saved(tmp_path)
    assert [p.name for p in path.parent.iterdir()] == ["snapshot"]


def test_a_snapshot_of_another_store_is_ignored(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        assert read_snapshot(saved(tmp_path), "sqlite:///other.db", now=NOW) is None
    assert "another store" in caplog.text


def test_a_tampered_row_is_ignored(tmp_path: Path, caplog) -> None:
    path = saved(tmp_path)
    path.write_text(path.read_text().replace('"DE"', '"US"'))
    with caplog.at_level(logging.WARNING):
        assert read(path) is None
    assert "checksum mismatch" in caplog.text


@pytest.mark.parametrize("field, value", [("version", 99), ("synced_at", NOW + 10 * YEAR)])
def test_a_header_edited_in_place_is_ignored(tmp_path: Path, caplog, field, value) -> None:
    path = saved(tmp_path)
    seal_line, header, rows = parts(path)
    header[field] = value
    path.write_text("\n".join(json.dumps(line) for line in [seal_line, header, *rows]) + "\n")
    with caplog.at_level(logging.WARNING):
        assert read(path) is None
    assert "checksum mismatch" in caplog.text


def test_a_sync_time_in_the_future_is_refused_even_with_a_recomputed_checksum(
        tmp_path: Path, caplog) -> None:
    path = saved(tmp_path)
    _, header, rows = parts(path)
    forge(path, {**header, "synced_at": NOW + 10 * YEAR}, rows)
    with caplog.at_level(logging.WARNING):
        assert read(path) is None
    assert "later than now" in caplog.text


def test_a_sync_time_just_ahead_of_now_is_within_tolerance(tmp_path: Path) -> None:
    assert read(saved(tmp_path, synced_at=NOW + 4_000_000)) is not None
    assert read(saved(tmp_path, synced_at=NOW + 6_000_000)) is None


def test_without_a_key_a_recomputed_checksum_is_only_corruption_detection(tmp_path: Path) -> None:
    # Documented limit: whoever can write the file can forge it; only a key prevents that.
    path = saved(tmp_path)
    _, header, rows = parts(path)
    forge(path, header, [row for row in rows if row.get("entry_id") != OPT_OUT.entry_id])
    index = read(path)
    assert index is not None and OPT_OUT not in index.rows()


@pytest.mark.parametrize("label", ["sha256", "hmac-sha256"])
def test_with_a_key_an_opt_out_removed_and_resealed_without_it_is_refused(
        tmp_path: Path, caplog, label) -> None:
    path = saved(tmp_path, KEY)
    _, header, rows = parts(path)
    forge(path, header, [row for row in rows if row.get("entry_id") != OPT_OUT.entry_id], label=label)
    with caplog.at_level(logging.WARNING):
        assert read(path, KEY) is None
    assert "ignoring snapshot file" in caplog.text


def test_with_a_key_a_file_written_with_another_key_is_refused(tmp_path: Path, caplog) -> None:
    path = saved(tmp_path, OTHER_KEY)
    with caplog.at_level(logging.WARNING):
        assert read(path, KEY) is None
    assert "authentication failed" in caplog.text


def test_keyed_and_unkeyed_files_are_not_interchangeable(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        assert read(saved(tmp_path), KEY) is None
        assert read(saved(tmp_path, KEY)) is None
    assert "accepts only 'hmac-sha256'" in caplog.text and "accepts only 'sha256'" in caplog.text


def test_a_version_1_file_is_ignored_with_a_warning(tmp_path: Path, caplog) -> None:
    path = tmp_path / "snapshot"
    header = {"format": "maytrain-snapshot/1", "store": STORE, "version": 4,
              "synced_at": NOW, "sha256": seal(b"", None)}
    path.write_text(json.dumps(header) + "\n")
    with caplog.at_level(logging.WARNING):
        assert read(path) is None
    assert "format 'maytrain-snapshot/1'" in caplog.text


def test_garbage_and_missing_files_are_ignored(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x00\xff not json")
    assert read(garbage) is None
    assert read(tmp_path / "missing") is None


def test_a_resealed_file_of_nonsense_rows_is_ignored_not_a_crash(tmp_path: Path) -> None:
    path = saved(tmp_path)
    _, header, _ = parts(path)
    forge(path, header, [[1, 2], {"kind": "account"}])  # type: ignore[list-item]
    assert read(path) is None


# The writer: left-overs, the unauthenticated notice ------------------------------------


def test_the_writer_removes_what_a_killed_writer_left_and_nothing_else(tmp_path: Path) -> None:
    path = saved(tmp_path)
    left = [path.parent / ".snapshot.k3x_9qab", path.parent / ".snapshot.00000000"]
    kept = [path.parent / name for name in (".snapshot.bak", "snapshot.abcdefgh",
                                            ".other.abcdefgh", ".snapshot.abcdefghi")]
    for file in left + kept:
        file.write_bytes(b"x" * 1000)
    (path.parent / ".snapshot.dirdirdi").mkdir()
    SnapshotWriter(str(path), STORE, every=1)
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        ["snapshot", ".snapshot.dirdirdi", *(p.name for p in kept)])


def test_the_writer_says_once_that_an_unkeyed_file_is_not_authenticated(
        tmp_path: Path, caplog) -> None:
    path = saved(tmp_path)
    with caplog.at_level(logging.INFO, logger="maytrain.snapshot"):
        writer = SnapshotWriter(str(path), STORE, every=0.001)
        writer.load(now=NOW)
        writer.maybe_write(ConsentIndex.build(5, ROWS, synced_at=NOW))
        SnapshotWriter(str(path), STORE, every=1, key=KEY)
    assert caplog.text.count("not authenticated") == 1


def test_the_writer_writes_with_its_key(tmp_path: Path) -> None:
    path = tmp_path / "snapshot"
    SnapshotWriter(str(path), STORE, every=1, key=KEY).maybe_write(
        ConsentIndex.build(5, ROWS, synced_at=NOW))
    assert SnapshotWriter(str(path), STORE, every=1, key=KEY).load(now=NOW) is not None
    assert SnapshotWriter(str(path), STORE, every=1, key=OTHER_KEY).load(now=NOW) is None


# The key file ------------------------------------------------------------------------------


def test_a_key_file_is_read_without_its_trailing_newline(tmp_path: Path) -> None:
    (tmp_path / "key").write_bytes(b"c2VjcmV0LWtleS1vZi0zMi1ieXRlcy1sb25nLi4uLg==\n")
    assert read_key(str(tmp_path / "key")) == b"c2VjcmV0LWtleS1vZi0zMi1ieXRlcy1sb25nLi4uLg=="
    assert read_key(None) is None


@pytest.mark.parametrize("content, message", [
    (None, "cannot read it"), (b"", "is empty"), (b" \n", "is empty"),
    (b"short", "holds 5 bytes"),
])
def test_a_missing_empty_or_short_key_file_is_an_error_never_a_fallback(
        tmp_path: Path, content, message) -> None:
    path = tmp_path / "key"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SnapshotKeyError, match=message):
        read_key(str(path))
