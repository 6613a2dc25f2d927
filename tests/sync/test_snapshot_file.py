"""The warm-start snapshot file: round trip, and refusal of corrupt or foreign files."""

from __future__ import annotations

import logging
from pathlib import Path

from sidecar.core import Account, ConsentEntry, ConsentIndex, Effect, Erasure
from sidecar.snapshot_file import read_snapshot, write_snapshot

ROWS = [Account("a1", "DE", 5), ConsentEntry("c1", "a1", "customer_content", "ai", Effect.GRANT,
                                              valid_from=7, evidence="signed", version=2),
        ConsentEntry("c2", "a1", "service_generated", "ai", Effect.OPT_OUT, user_id="u1",
                     ended_version=4), Erasure("e1", "a1", "u2", version=3)]


def saved(tmp_path: Path) -> Path:
    path = tmp_path / "cache" / "snapshot"
    write_snapshot(path, ConsentIndex.build(4, ROWS, synced_at=123), "sqlite:///x.db")
    return path


def test_a_snapshot_reads_back_the_same_rows_version_and_sync_time(tmp_path: Path) -> None:
    index = read_snapshot(saved(tmp_path), "sqlite:///x.db")
    assert index is not None and (index.version, index.synced_at) == (4, 123)
    assert sorted(map(repr, index.rows())) == sorted(map(repr, ROWS))


def test_writing_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = saved(tmp_path)
    assert [p.name for p in path.parent.iterdir()] == ["snapshot"]


def test_a_snapshot_of_another_store_is_ignored(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        assert read_snapshot(saved(tmp_path), "sqlite:///other.db") is None
    assert "another store" in caplog.text


def test_a_tampered_snapshot_is_ignored(tmp_path: Path, caplog) -> None:
    path = saved(tmp_path)
    path.write_text(path.read_text().replace('"DE"', '"US"'))
    with caplog.at_level(logging.WARNING):
        assert read_snapshot(path, "sqlite:///x.db") is None
    assert "checksum mismatch" in caplog.text


def test_garbage_and_missing_files_are_ignored(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x00\xff not json")
    assert read_snapshot(garbage, "s") is None
    assert read_snapshot(tmp_path / "missing", "s") is None
