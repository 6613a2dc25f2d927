"""The warm-start snapshot: the cache written to disk after syncs, read when the store is not.

The file is a seal line, then a JSON header line (format, store, version, sync time), then
one line per row (kind, state). The seal (`snapshot_seal`) covers every byte after its own
line, header included: a SHA-256 that detects corruption, or, with a key, an HMAC that
also refuses a file the sidecar did not write. The file is written to a temporary file,
fsynced and renamed into place, so a reader sees the old file or the new one, never half
of one. A corrupt, forged, foreign, future-dated or older-format file is ignored with a
warning, never trusted: the sidecar then waits for the store.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TypeGuard

from .core.index import ConsentIndex
from .core.model import Account, ConsentEntry, Effect, Erasure, Micros, StoreRow
from .snapshot_seal import future_problem, scheme, seal, seal_problem

FORMAT = "maytrain-snapshot/2"
log = logging.getLogger("maytrain.snapshot")
# tempfile.mkstemp's names: the prefix, then 8 of these characters.
_TEMP_NAME = "[a-z0-9_]{8}"


def write_snapshot(path: Path, index: ConsentIndex, store_id: str,
                   key: bytes | None = None) -> None:
    """Atomically replace `path` with the index's rows, version and sync time, sealed."""
    header = {"format": FORMAT, "store": store_id, "version": index.version,
              "synced_at": index.synced_at}
    payload = "".join([json.dumps(header) + "\n",
                       *(json.dumps(row_to_json(row)) + "\n" for row in index.rows())])
    payload_bytes = payload.encode("utf-8")
    seal_line = json.dumps({"format": FORMAT, "seal": scheme(key),
                            "digest": seal(payload_bytes, key)}).encode("utf-8") + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(seal_line + payload_bytes)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def read_snapshot(path: Path, store_id: str, *, now: Micros,
                  key: bytes | None = None) -> ConsentIndex | None:
    """The index saved at `path` for this store, or None (with a warning) if it is not
    proven by its seal, or is foreign, future-dated (after `now`) or malformed."""
    try:
        seal_line, _, payload = path.read_bytes().partition(b"\n")
        problem = _seal_line_problem(json.loads(seal_line), payload, key)
        if not problem:
            header_line, _, body = payload.decode("utf-8").partition("\n")
            header = json.loads(header_line)
            problem = _header_problem(header, store_id, now)
        if problem:
            log.warning("ignoring snapshot file %s: %s", path, problem)
            return None
        rows = [row_from_json(json.loads(line)) for line in body.splitlines()]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        log.warning("ignoring snapshot file %s: unreadable (%s)", path, exc)
        return None
    return ConsentIndex.build(header["version"], rows, synced_at=header["synced_at"])


def remove_temporary_files(path: Path) -> list[Path]:
    """Delete what a writer killed mid-write left beside `path` (`.{name}.XXXXXXXX`
    regular files, nothing else); return what was removed."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.{_TEMP_NAME}")
    removed = []
    try:
        candidates = [p for p in path.parent.iterdir() if pattern.fullmatch(p.name)]
    except OSError:  # no directory yet: nothing was left
        return []
    for candidate in candidates:
        try:
            if stat.S_ISREG(candidate.lstat().st_mode):
                candidate.unlink()
                removed.append(candidate)
        except OSError as exc:
            log.warning("could not remove left-over snapshot file %s: %s", candidate, exc)
    return removed


def _seal_line_problem(line: object, payload: bytes, key: bytes | None) -> str:
    if not isinstance(line, dict) or not str(line.get("format", "")).startswith(
            "maytrain-snapshot/"):
        return "not a maytrain snapshot"
    if line["format"] != FORMAT:
        return f"format {line['format']!r}, not {FORMAT!r} (another version of maytrain wrote it)"
    return seal_problem(payload, line.get("seal"), line.get("digest"), key)


def _header_problem(header: object, store_id: str, now: Micros) -> str:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return "not a maytrain snapshot"
    if header.get("store") != store_id:
        return f"taken from another store ({header.get('store')!r})"
    version, synced_at = header.get("version"), header.get("synced_at")
    if not _is_int(version) or not _is_int(synced_at):
        return "header without version or sync time"
    return future_problem(synced_at, now)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


_KINDS = {"account": Account, "consent": ConsentEntry, "erasure": Erasure}
_KIND_OF = {cls: kind for kind, cls in _KINDS.items()}


def row_to_json(row: StoreRow) -> dict:
    """A row as a JSON object tagged with its kind."""
    fields = asdict(row)
    if isinstance(row, ConsentEntry):
        fields["effect"] = row.effect.value
    return {"kind": _KIND_OF[type(row)], **fields}


def row_from_json(fields: dict) -> StoreRow:
    """The row a `row_to_json` object describes."""
    cls = _KINDS[fields.pop("kind")]
    if cls is ConsentEntry:
        fields["effect"] = Effect(fields["effect"])
    return cls(**fields)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
