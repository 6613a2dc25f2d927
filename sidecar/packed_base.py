"""A cold start's proof of the store's packed base, before it is mapped and followed.

The store hands over its base's parts as written, unchecked (`store.sql.packed_base`);
here they are held to their header: this maytrain's layout, the size and the SHA-256 the
header gives. A sidecar with a snapshot key also holds the header to its seal, so that
whoever may write the packed tables but lacks the key (a leaked pack role) cannot make a
base it uses. The follower then checks the header's chain against the store's history.
A base that fails is not used, and the cold start reads the rows instead.
"""

from __future__ import annotations

import hashlib
import mmap
import os
from typing import BinaryIO

from .core.errors import MaytrainError
from .snapshot_seal import same_seal
from .store.protocol import PackedBaseInfo
from .store.sql.packed_base import BASE_LAYOUT, header_seal


class PackedBaseRefused(MaytrainError):
    """The store's packed base is not one this sidecar may use; the message says why."""


def proven_base(spool: BinaryIO, info: PackedBaseInfo, key: bytes | None = None) -> memoryview:
    """The body written to `spool`, mapped read-only, once its header (sealed with `key`,
    when the sidecar has one) proves it."""
    if info.layout != BASE_LAYOUT:
        raise PackedBaseRefused(f"layout {info.layout!r}, not {BASE_LAYOUT!r} (another version "
                                "of maytrain packed it)")
    if key is not None and not same_seal(info.seal, header_seal(info, key)):
        raise PackedBaseRefused(
            "not sealed with this sidecar's snapshot key" + (
                " (packed without one: run `maytrain store pack --snapshot-key-file`)"
                if not info.seal else " (packed with another key, or altered)"))
    spool.flush()
    size = os.fstat(spool.fileno()).st_size
    if size != info.body_bytes or size == 0:
        raise PackedBaseRefused(f"checksum mismatch: its parts hold {size} bytes, its header "
                                f"says {info.body_bytes}")
    body = memoryview(mmap.mmap(spool.fileno(), 0, access=mmap.ACCESS_READ))
    if hashlib.sha256(body).hexdigest() != info.body_sha256:
        raise PackedBaseRefused("checksum mismatch: its parts are not the ones its header "
                                "proves (damaged or edited)")
    return body

