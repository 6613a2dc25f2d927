"""What a warm-start snapshot must prove before it is loaded, whatever its layout: a seal
over every byte of it, and a sync time that is not in the future.

Without a key the seal is a SHA-256: it detects corruption and truncation, not forgery
(whoever can write the file can recompute it). With a key (`--snapshot-key-file`) it is
an HMAC-SHA256, so a file this sidecar (or one sharing its key) did not write is never
trusted. The functions take bytes and numbers, so any file format can reuse them.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from .core.errors import MaytrainError
from .core.model import Micros
from .core.times import format_timestamp

SHA256, HMAC_SHA256 = "sha256", "hmac-sha256"
FUTURE_TOLERANCE: Micros = 5_000_000
"""How far past `now` a snapshot's sync time may be (clocks of one pod barely differ)."""
MIN_KEY_BYTES = 16


class SnapshotKeyError(MaytrainError):
    """A snapshot key file that cannot be used: missing, unreadable, empty or too short."""


def read_key(path: str | None) -> bytes | None:
    """The snapshot key in the file at `path` (ends stripped of whitespace), or None
    without a path; SnapshotKeyError if the file cannot give a usable key."""
    if path is None:
        return None
    try:
        key = Path(path).read_bytes().strip()
    except OSError as exc:
        raise SnapshotKeyError(f"--snapshot-key-file {path}: cannot read it "
                               f"({exc.strerror or exc})") from None
    if len(key) < MIN_KEY_BYTES:
        what = "is empty" if not key else f"holds {len(key)} bytes"
        raise SnapshotKeyError(f"--snapshot-key-file {path} {what}; a snapshot key needs at "
                               f"least {MIN_KEY_BYTES} (e.g. 32 random bytes, base64)")
    return key


def scheme(key: bytes | None) -> str:
    """The seal a sidecar with this key writes, and the only one it accepts."""
    return SHA256 if key is None else HMAC_SHA256


def seal(payload: bytes, key: bytes | None) -> str:
    """The hex seal of `payload`: HMAC-SHA256 with the key, else SHA-256."""
    if key is None:
        return hashlib.sha256(payload).hexdigest()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def seal_problem(payload: bytes, sealed_with: object, digest: object, key: bytes | None) -> str:
    """Why the file's seal does not prove `payload`, or '' when it does."""
    wanted = scheme(key)
    if sealed_with != wanted:
        return f"sealed with {sealed_with!r}, but this sidecar accepts only {wanted!r}"
    if not isinstance(digest, str) or not same_seal(digest, seal(payload, key)):
        if key is None:
            return "checksum mismatch (corrupt or truncated)"
        return "authentication failed (not written with this sidecar's key, or altered)"
    return ""


def same_seal(found: str, wanted: str) -> bool:
    """Whether a seal read from a file or a store is the one wanted, in constant time, whatever
    text it holds (compare_digest raises on a str with non-ASCII characters: compare bytes)."""
    return hmac.compare_digest(found.encode("utf-8", "surrogatepass"), wanted.encode())


def future_problem(synced_at: Micros, now: Micros, tolerance: Micros = FUTURE_TOLERANCE) -> str:
    """Why a snapshot synced at `synced_at` cannot be true at `now`, or ''."""
    if synced_at > now + tolerance:
        return f"synced at {_when(synced_at)}, later than now ({_when(now)})"
    return ""


def _when(micros: Micros) -> str:
    try:
        return format_timestamp(micros)
    except (ValueError, OverflowError):  # a forged time may lie beyond year 9999
        return f"{micros} microseconds since the epoch"
