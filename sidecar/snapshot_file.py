"""The warm-start snapshot: the cache written to disk after syncs, read when the store is not.

The file is a JSON header line, then one line per row (kind, state). It is written to a
temporary file, fsynced and renamed into place, so a reader sees the old file or the new
one, never half of one. The header carries a SHA-256 of the rows, the format and the
store it came from: a corrupt or foreign file is ignored with a warning, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from .core.index import ConsentIndex
from .core.model import Account, ConsentEntry, Effect, Erasure, StoreRow

FORMAT = "maytrain-snapshot/1"
log = logging.getLogger("maytrain.snapshot")


def write_snapshot(path: Path, index: ConsentIndex, store_id: str) -> None:
    """Atomically replace `path` with the index's rows, version and sync time."""
    body = "".join(json.dumps(row_to_json(row)) + "\n" for row in index.rows())
    header = {"format": FORMAT, "store": store_id, "version": index.version,
              "synced_at": index.synced_at, "sha256": _digest(body)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(header) + "\n" + body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def read_snapshot(path: Path, store_id: str) -> ConsentIndex | None:
    """The index saved at `path` for this store, or None (with a warning) if unusable."""
    try:
        header_line, _, body = path.read_text("utf-8").partition("\n")
        header = json.loads(header_line)
        problem = _header_problem(header, store_id, body)
        if problem:
            log.warning("ignoring snapshot file %s: %s", path, problem)
            return None
        rows = [row_from_json(json.loads(line)) for line in body.splitlines()]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring snapshot file %s: unreadable (%s)", path, exc)
        return None
    return ConsentIndex.build(header["version"], rows, synced_at=header["synced_at"])


def _header_problem(header: object, store_id: str, body: str) -> str:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return "not a maytrain snapshot"
    if header.get("store") != store_id:
        return f"taken from another store ({header.get('store')!r})"
    if header.get("sha256") != _digest(body):
        return "checksum mismatch (corrupt or truncated)"
    if not isinstance(header.get("version"), int) or not isinstance(header.get("synced_at"), int):
        return "header without version or sync time"
    return ""


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


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
