"""The warm-start file (format 3): the compact consent index itself, mapped, never parsed.

    header page (HEADER_PAGE bytes): one JSON line, then zero padding
    body: the compact base buffer of `core.compact`, exactly

The JSON line holds the format, the header fields — store, consent version, sync time,
the body's size and SHA-256 — and a seal over those fields (`snapshot_seal`: a SHA-256,
or with a key an HMAC). The seal proves the header and the header's digest proves the
body, so loading hashes the body once and then reads it in place from a read-only map
that several processes share. A new body is written to a temporary file, fsynced and
renamed into place; a body that stands unchanged gets a fresh sync time by rewriting the
header page alone (a torn page fails its seal: the file is then ignored, never trusted).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .core.compact import CompactBase
from .core.errors import MaytrainError
from .core.index import ConsentIndex, packed_chunks
from .core.model import Micros
from .snapshot_seal import future_problem, scheme, seal, seal_problem

FORMAT = "maytrain-snapshot/3"
HEADER_PAGE = 4096
_FAMILY = "maytrain-snapshot/"


class IndexFileError(MaytrainError):
    """A file that is not a usable index for this sidecar; the message says why."""


@dataclass(frozen=True)
class IndexFile:
    """What a header says: the body it proves, at which version and sync time."""

    store: str
    version: int
    synced_at: Micros
    body_bytes: int
    body_sha256: str
    chain: str = ""
    """The store's change chain at `version` ('' unknown): a warm start that finds the
    store's chain there unchanged follows its changes from there instead of reloading."""

    def fields(self) -> dict[str, Any]:
        """The header fields the seal covers."""
        return {"format": FORMAT, "store": self.store, "version": self.version,
                "synced_at": self.synced_at, "body_bytes": self.body_bytes,
                "body_sha256": self.body_sha256, "chain": self.chain}


def write_index(path: Path, index: ConsentIndex, store_id: str,
                key: bytes | None = None, chain: str = "") -> IndexFile:
    """Atomically replace `path` with the index packed as a new body; returns its header."""
    if index.synced_at is None:
        raise ValueError("an index that never synced has no sync time to save")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "r+b") as out:
            out.write(bytes(HEADER_PAGE))
            size, digest = _write_body(out, packed_chunks(index))
            header = IndexFile(store_id, index.version, index.synced_at, size, digest, chain)
            out.seek(0)
            out.write(header_page(header, key))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return header


def _write_body(out: Any, chunks: Iterable[bytes]) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        out.write(chunk)
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def refresh_header(path: Path, header: IndexFile, synced_at: Micros,
                   key: bytes | None = None) -> IndexFile:
    """Rewrite the header page of the file at `path` with a later sync time (its body, at
    `header.version`, is known to be still current)."""
    fresh = IndexFile(header.store, header.version, synced_at, header.body_bytes,
                      header.body_sha256, header.chain)
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, header_page(fresh, key), 0)
        os.fsync(fd)
    finally:
        os.close(fd)
    return fresh


def header_page(header: IndexFile, key: bytes | None) -> bytes:
    """The sealed header line, padded to HEADER_PAGE bytes."""
    fields = header.fields()
    line = json.dumps({"format": FORMAT, "seal": scheme(key), "digest": seal(_sealed(fields), key),
                       "header": fields}).encode("utf-8") + b"\n"
    if len(line) > HEADER_PAGE:
        raise ValueError("the header does not fit its page (a store id that long?)")
    return line + bytes(HEADER_PAGE - len(line))


def _sealed(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")


def map_index(path: Path, store_id: str, *, now: Micros,
              key: bytes | None = None) -> tuple[ConsentIndex, IndexFile]:
    """The index saved at `path`, read in place; IndexFileError says why it is refused
    (FileNotFoundError when there is no file)."""
    with path.open("rb") as handle:
        header = read_header(memoryview(handle.read(HEADER_PAGE)), store_id, now, key)
        if os.fstat(handle.fileno()).st_size <= HEADER_PAGE:
            raise IndexFileError("checksum mismatch: the file ends before its body")
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    body = memoryview(mapped)[HEADER_PAGE:]
    if len(body) != header.body_bytes:
        raise IndexFileError(f"checksum mismatch: the body holds {len(body)} bytes, its "
                             f"header says {header.body_bytes} (truncated or appended to)")
    if hashlib.sha256(body).hexdigest() != header.body_sha256:
        raise IndexFileError("checksum mismatch: the body is not the one its header proves "
                             "(corrupt)")
    index = ConsentIndex.on(CompactBase(body), header.version, header.synced_at)
    return index, header


def read_header(page: memoryview, store_id: str, now: Micros, key: bytes | None) -> IndexFile:
    """The header of a file whose first page is `page`, once its seal proves it."""
    line = json.loads(bytes(page).partition(b"\n")[0])
    if not isinstance(line, dict) or not str(line.get("format", "")).startswith(_FAMILY):
        raise IndexFileError("not a maytrain snapshot")
    if line["format"] != FORMAT:
        raise IndexFileError(f"format {line['format']!r}, not {FORMAT!r} "
                             "(another version of maytrain wrote it)")
    fields = line.get("header")
    if not isinstance(fields, dict):
        raise IndexFileError("not a maytrain snapshot")
    problem = seal_problem(_sealed(fields), line.get("seal"), line.get("digest"), key)
    if problem:
        raise IndexFileError(problem)
    return _checked(fields, store_id, now)


def _checked(fields: dict[str, Any], store_id: str, now: Micros) -> IndexFile:
    if fields.get("store") != store_id:
        raise IndexFileError(f"taken from another store ({fields.get('store')!r})")
    numbers = [fields.get(name) for name in ("version", "synced_at", "body_bytes")]
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers) \
            or not isinstance(fields.get("body_sha256"), str) \
            or not isinstance(fields.get("chain", ""), str):
        raise IndexFileError("header without version, sync time or body checksum")
    header = IndexFile(store_id, fields["version"], fields["synced_at"], fields["body_bytes"],
                       fields["body_sha256"], fields.get("chain", ""))
    problem = future_problem(header.synced_at, now)
    if problem:
        raise IndexFileError(problem)
    return header


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
