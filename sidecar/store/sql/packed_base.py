"""The packed base a SQL store keeps beside its rows (schema 3): the compact consent index
of every account at one consent version, in parts, with the chain at that version.

`store pack` writes it; a cold start reads it and then follows the feed from its version,
so it reads no rows. It is a cache of the rows, never a source: the header's SHA-256
proves the parts, the chain proves the version is in the store's history, and a reader
that finds either wrong reads the rows instead (the follower decides that, not the store).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, BinaryIO

from ...core.compact import LAYOUT, MAGIC
from ...core.model import Micros
from ...snapshot_seal import HMAC_SHA256, seal
from ..errors import StoreError
from ..protocol import PackedBaseInfo
from .dialect import SqlDialect

PART_BYTES = 4 << 20
"""Bytes per stored part: a few MB, so neither writing nor reading holds more at once."""
BASE_LAYOUT = f"{MAGIC.decode('ascii')}/{LAYOUT}"
"""The compact index's layout this maytrain reads and writes."""
_COLUMNS = ("version", "chain", "layout", "parts", "body_bytes", "body_sha256",
            "latest_write", "packed_at", "seal")


def header_seal(info: PackedBaseInfo, key: bytes) -> str:
    """The seal a pack with `key` gives its header: an HMAC over every field that says what
    the body is, so only a holder of the sidecars' snapshot key can make a base they use."""
    payload = "\n".join(str(field) for field in (
        info.layout, info.version, info.chain, info.parts, info.body_bytes, info.body_sha256,
        info.latest_write, info.packed_at)).encode()
    return f"{HMAC_SHA256}:{seal(payload, key)}"


_TYPES = (int, str, str, int, int, str, (int, type(None)), int, str)
"""What each of _COLUMNS must hold: SQLite keeps whatever a hand edit puts there."""


def read_info(conn: Any) -> PackedBaseInfo | None:
    """The store's packed base's header, or None when none was packed; StoreError when a
    field holds a value of the wrong kind (edited by hand)."""
    found = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM packed_base WHERE id = 1").fetchone()
    if found is None:
        return None
    for name, value, kind in zip(_COLUMNS, found, _TYPES, strict=True):
        if not isinstance(value, kind) or isinstance(value, bool):
            raise StoreError(f"the store's packed base has a malformed header: {name} holds "
                             f"{type(value).__name__} {value!r}; run `maytrain store pack`")
    return PackedBaseInfo(*found)


def copy_parts(conn: Any, dialect: SqlDialect, info: PackedBaseInfo, out: BinaryIO) -> None:
    """Write the base's parts, in order, to `out` (one part in memory at a time)."""
    for part in range(info.parts):
        found = conn.execute(f"SELECT data FROM packed_base_parts WHERE part = {dialect.param}",
                             (part,)).fetchone()
        if found is None:  # the follower's size check says so; stop rather than skip one
            return
        out.write(found[0])


def write_base(conn: Any, dialect: SqlDialect, version: int, chain: str, body: memoryview,
               latest_write: Micros | None, packed_at: Micros,
               key: bytes | None = None) -> PackedBaseInfo:
    """Replace the store's packed base with `body` at `version`, in the caller's write
    transaction, sealed with `key` if given; a base the store already holds at a later
    version is kept instead."""
    try:
        current = read_info(conn)
    except StoreError:  # a malformed header: what this pack is here to replace
        current = None
    if current is not None and current.version > version:
        return current
    parts = max(1, -(-len(body) // PART_BYTES))
    info = PackedBaseInfo(version, chain, BASE_LAYOUT, parts, len(body),
                          hashlib.sha256(body).hexdigest(), latest_write, packed_at)
    if key is not None:
        info = dataclasses.replace(info, seal=header_seal(info, key))
    conn.execute("DELETE FROM packed_base_parts")
    conn.execute("DELETE FROM packed_base")
    conn.execute(f"INSERT INTO packed_base (id, {', '.join(_COLUMNS)}) VALUES (1, "
                 f"{dialect.marks(len(_COLUMNS))})",
                 tuple(getattr(info, name) for name in _COLUMNS))
    for part in range(parts):
        data = bytes(body[part * PART_BYTES:(part + 1) * PART_BYTES])
        conn.execute(f"INSERT INTO packed_base_parts (part, data) VALUES ({dialect.marks(2)})",
                     (part, data))
    return info
