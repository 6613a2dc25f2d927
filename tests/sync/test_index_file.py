"""The warm-start file, format 3 (the compact index, mapped): round trip, header refresh,
refusal of corrupt, truncated, forged, foreign, future-dated and older-format files, and
the writer thread's choice between a new body, a fresh header and nothing."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from sidecar.core import Account, Change, ConsentEntry, ConsentIndex, Effect, Erasure
from sidecar.index_file import (
    HEADER_PAGE,
    IndexFileError,
    header_page,
    map_index,
    refresh_header,
    write_index,
)
from sidecar.snapshot_writer import SnapshotWriter

STORE = "sqlite:///x.db"
NOW = 1_750_000_000_000_000
KEY, OTHER_KEY = b"k" * 32, b"o" * 32
OPT_OUT = ConsentEntry("c3", "a1", "customer_content.chat", "ai", Effect.OPT_OUT, version=4)
ROWS = [Account("a1", "DE", 5), ConsentEntry("c1", "a1", "customer_content", "ai", Effect.GRANT,
                                              valid_from=7, evidence="signed", version=2),
        ConsentEntry("c2", "a1", "service_generated", "ai", Effect.OPT_OUT, user_id="u1",
                     ended_version=4), OPT_OUT, Erasure("e1", "a1", "u2", version=3),
        Account("a2", "", None)]


def index_at(version: int = 4, synced_at: int = NOW - 1_000_000, rows=ROWS) -> ConsentIndex:
    return ConsentIndex.build(version, rows, synced_at=synced_at)


def saved(tmp_path: Path, key: bytes | None = None, **kw) -> Path:
    path = tmp_path / "cache" / "snapshot"
    write_index(path, index_at(**kw), STORE, key)
    return path


def load(path: Path, key: bytes | None = None, now: int = NOW) -> ConsentIndex:
    return map_index(path, STORE, now=now, key=key)[0]


def refused(path: Path, message: str, key: bytes | None = None, now: int = NOW) -> None:
    with pytest.raises(IndexFileError, match=message):
        load(path, key, now)


def header_of(path: Path) -> dict:
    return json.loads(path.read_bytes()[:HEADER_PAGE].partition(b"\n")[0])


@pytest.mark.parametrize("key", [None, KEY], ids=["unkeyed", "keyed"])
def test_a_file_maps_back_to_the_same_rows_version_and_sync_time(tmp_path, key) -> None:
    index = load(saved(tmp_path, key), key)
    assert (index.version, index.synced_at) == (4, NOW - 1_000_000)
    assert sorted(map(repr, index.rows())) == sorted(map(repr, ROWS))
    assert (index.account_count, index.entry_count) == (2, 3)


def test_writing_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = saved(tmp_path)
    assert [p.name for p in path.parent.iterdir()] == ["snapshot"]


def test_a_refreshed_header_moves_the_sync_time_and_keeps_the_body(tmp_path: Path) -> None:
    path = saved(tmp_path, KEY)
    _, header = map_index(path, STORE, now=NOW, key=KEY)
    body = path.read_bytes()[HEADER_PAGE:]
    refresh_header(path, header, NOW, KEY)
    assert load(path, KEY).synced_at == NOW and path.read_bytes()[HEADER_PAGE:] == body


def test_a_flipped_body_byte_is_a_checksum_mismatch(tmp_path: Path) -> None:
    path = saved(tmp_path)
    data = bytearray(path.read_bytes())
    data[HEADER_PAGE + 20] ^= 1
    path.write_bytes(bytes(data))
    refused(path, "checksum mismatch")


@pytest.mark.parametrize("cut", [1, 100])
def test_a_truncated_or_extended_file_is_refused(tmp_path: Path, cut: int) -> None:
    path = saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    refused(path, "checksum mismatch")
    path.write_bytes(data + b"\0" * cut)
    refused(path, "checksum mismatch")


@pytest.mark.parametrize("field, value", [("version", 99), ("synced_at", NOW),
                                          ("body_sha256", "0" * 64)])
def test_a_header_edited_in_place_fails_its_seal(tmp_path: Path, field, value) -> None:
    path = saved(tmp_path)
    line = header_of(path)
    line["header"][field] = value
    edited = json.dumps(line).encode() + b"\n"
    path.write_bytes(edited.ljust(HEADER_PAGE, b"\0") + path.read_bytes()[HEADER_PAGE:])
    refused(path, "checksum mismatch")


@pytest.mark.parametrize("key", [None, KEY], ids=["unkeyed", "keyed"])
def test_a_seal_edited_to_non_ascii_text_is_refused_not_a_crash(tmp_path: Path, key) -> None:
    """compare_digest raises TypeError on such a str: the file must be refused instead."""
    path = saved(tmp_path, key)
    line = header_of(path)
    line["digest"] = "é" * 64
    edited = json.dumps(line, ensure_ascii=False).encode() + b"\n"
    path.write_bytes(edited.ljust(HEADER_PAGE, b"\0") + path.read_bytes()[HEADER_PAGE:])
    refused(path, "checksum mismatch" if key is None else "authentication failed", key)


def forge(path: Path, index: ConsentIndex, key: bytes | None) -> None:
    """What a forger does: write a file of its own choosing, sealed with `key`."""
    write_index(path, index, STORE, key)


def test_without_a_key_a_resealed_file_is_only_corruption_detection(tmp_path: Path) -> None:
    # Documented limit: whoever can write the file can forge it; only a key prevents that.
    path = saved(tmp_path)
    forge(path, index_at(rows=[r for r in ROWS if r is not OPT_OUT]), None)
    assert OPT_OUT not in load(path).rows()


@pytest.mark.parametrize("forger_key, message", [
    (None, "accepts only 'hmac-sha256'"), (OTHER_KEY, "authentication failed")])
def test_with_a_key_a_forged_file_is_refused(tmp_path: Path, forger_key, message) -> None:
    path = saved(tmp_path, KEY)
    forge(path, index_at(rows=[r for r in ROWS if r is not OPT_OUT]), forger_key)
    refused(path, message, KEY)


def test_a_forged_body_under_a_genuine_header_is_refused(tmp_path: Path) -> None:
    path = saved(tmp_path, KEY)
    genuine_header = path.read_bytes()[:HEADER_PAGE]
    other = tmp_path / "other"
    write_index(other, index_at(rows=[r for r in ROWS if r is not OPT_OUT]), STORE, KEY)
    path.write_bytes(genuine_header + other.read_bytes()[HEADER_PAGE:])
    refused(path, "checksum mismatch", KEY)


def test_a_sync_time_in_the_future_is_refused_even_when_sealed(tmp_path: Path) -> None:
    path = saved(tmp_path, KEY, synced_at=NOW + 10 * 10**6)
    refused(path, "later than now", KEY)
    assert load(saved(tmp_path, KEY, synced_at=NOW + 4 * 10**6), KEY) is not None


def test_a_file_of_another_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IndexFileError, match="another store"):
        map_index(saved(tmp_path), "sqlite:///other.db", now=NOW)


def test_a_version_2_file_is_refused_by_its_format(tmp_path: Path) -> None:
    path = tmp_path / "snapshot"  # version 2: a seal line, a header line, one row a line
    path.write_text(json.dumps({"format": "maytrain-snapshot/2", "seal": "sha256",
                                "digest": "0" * 64}) + "\n" + json.dumps({"kind": "account"}))
    refused(path, "format 'maytrain-snapshot/2', not 'maytrain-snapshot/3'")


def test_garbage_is_refused_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "garbage"
    path.write_bytes(b"\x00\xff not json" * 1000)
    with pytest.raises((IndexFileError, ValueError)):
        load(path)


def test_a_header_that_does_not_fit_its_page_is_an_error() -> None:
    from sidecar.index_file import IndexFile
    with pytest.raises(ValueError, match="does not fit"):
        header_page(IndexFile("x" * HEADER_PAGE, 1, NOW, 1, "0" * 64), None)


# The writer ---------------------------------------------------------------------------


def writer(tmp_path: Path, **kw) -> SnapshotWriter:
    return SnapshotWriter(str(tmp_path / "snapshot"), STORE, every=0.0, key=KEY, **kw)


def opt_out(version: int) -> Change:
    return Change(version, ConsentEntry(f"o{version}", "a2", "customer_content", "ai",
                                        Effect.OPT_OUT, version=version))


def test_the_writer_writes_a_body_first_then_only_refreshes_the_header(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.maybe_write(index_at())
    body = (tmp_path / "snapshot").read_bytes()[HEADER_PAGE:]
    w.maybe_write(index_at().confirmed(NOW))
    assert (tmp_path / "snapshot").read_bytes()[HEADER_PAGE:] == body
    assert load(tmp_path / "snapshot", KEY).synced_at == NOW


def test_the_chain_at_the_files_version_is_kept_in_its_sealed_header(tmp_path: Path) -> None:
    path = tmp_path / "snapshot"
    write_index(path, index_at(), STORE, KEY, chain="ab" * 32)
    assert map_index(path, STORE, now=NOW, key=KEY)[1].chain == "ab" * 32
    line = header_of(path)
    line["header"]["chain"] = "cd" * 32
    path.write_bytes((json.dumps(line).encode() + b"\n").ljust(HEADER_PAGE, b"\0")
                     + path.read_bytes()[HEADER_PAGE:])
    refused(path, "authentication failed", KEY)


def test_a_few_changes_wait_for_more_or_for_time(tmp_path: Path) -> None:
    w = writer(tmp_path, full_every=3600)
    w.maybe_write(index_at())
    w.maybe_write(index_at().apply([opt_out(5)], synced_at=NOW))
    assert load(tmp_path / "snapshot", KEY).version == 4  # kept with its own sync time
    w.full_every = 0
    w.maybe_write(index_at().apply([opt_out(5)], synced_at=NOW))
    assert load(tmp_path / "snapshot", KEY).version == 5


def test_many_changes_write_a_new_body_and_hand_back_the_mapped_index(tmp_path: Path) -> None:
    w, mapped = writer(tmp_path, full_every=3600), []
    w.on_written = lambda index, tag: mapped.append(index)
    w.maybe_write(index_at())
    changed = index_at().apply([opt_out(v) for v in range(5, 1_005)], synced_at=NOW)
    w.maybe_write(changed)
    assert [m.version for m in mapped] == [4, 1_004]
    rebased = changed.rebased(mapped[-1].base, mapped[-1].version)
    assert rebased.changed_accounts == 0 and rebased.rows() == changed.rows()


def test_the_writer_thread_writes_what_it_is_offered_and_the_last_at_stop(tmp_path) -> None:
    w, stop = writer(tmp_path), threading.Event()
    thread = threading.Thread(target=w.run, args=(stop,))
    thread.start()
    w.offer(index_at())
    stop.set()
    w.wake()
    thread.join(5)
    assert not thread.is_alive() and load(tmp_path / "snapshot", KEY).version == 4


def test_the_writer_ignores_an_unusable_file_with_a_warning(tmp_path: Path, caplog) -> None:
    (tmp_path / "snapshot").write_bytes(b"nonsense\n" * 1000)
    with caplog.at_level(logging.WARNING):
        assert writer(tmp_path).load(now=NOW) is None
    assert "ignoring snapshot file" in caplog.text
