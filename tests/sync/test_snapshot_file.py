"""Around the warm-start file: what a killed writer leaves behind, the notice for an
unauthenticated file, and the key file (the format itself: test_index_file.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sidecar.core import Account, ConsentEntry, ConsentIndex, Effect, Erasure
from sidecar.index_file import write_index
from sidecar.snapshot_seal import SnapshotKeyError, read_key
from sidecar.snapshot_writer import SnapshotWriter

STORE = "sqlite:///x.db"
NOW = 1_750_000_000_000_000  # 2025-06-15, microseconds
KEY, OTHER_KEY = b"k" * 32, b"o" * 32
ROWS = [Account("a1", "DE", 5), ConsentEntry("c1", "a1", "customer_content", "ai", Effect.GRANT,
                                              valid_from=7, evidence="signed", version=2),
        Erasure("e1", "a1", "u2", version=3)]


def saved(tmp_path: Path, key: bytes | None = None, synced_at: int = NOW - 1_000_000) -> Path:
    path = tmp_path / "cache" / "snapshot"
    write_index(path, ConsentIndex.build(4, ROWS, synced_at=synced_at), STORE, key)
    return path


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
