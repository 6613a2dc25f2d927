"""The compact base of the consent index: every account's packed record in one buffer,
found through a hash table in the same buffer, read in place.

The buffer (bytes built in memory, or a file mapped by the caller) is laid out as

    account records, sorted by id | string table | record offsets | hash slots | trailer

so it is used without being parsed: opening it reads the trailer and the string table,
and an account is unpacked on demand when a decision asks for it, then memoised in a
bounded LRU cache (the base never changes, so an entry stays right for its lifetime).
`BaseWriter` packs a buffer of this layout a record at a time, front to back, so a caller
may stream it to a file (and hash it on the way).
"""

from __future__ import annotations

import sys
import threading
import zlib
from array import array
from collections.abc import Iterator, Sequence
from struct import Struct
from typing import Any

from cachetools import LRUCache

from .account_state import UNKNOWN, AccountState
from .model import Account, ConsentEntry, Erasure
from .packed import (
    ACCOUNT_HEAD,
    CorruptRecordError,
    StringTable,
    pack_rows,
    pack_state,
    pack_value_rows,
    record_id,
    unpack_account,
)

MAGIC, LAYOUT = b"MTIX", 1
TRAILER = Struct("<QQQQQQQI4s")
"""records, known accounts, entries, slots, table, offsets, slots offset, layout, magic."""
CACHED_ACCOUNTS = 4096
"""Unpacked accounts kept per base: a few MB, enough for the accounts of many batches."""
_ALIGN = 8

if sys.byteorder != "little":  # offsets and slots are read through native-order views
    raise ImportError("the compact consent index needs a little-endian machine")


class CompactBase:
    """A read-only index base over a buffer of `BaseWriter`'s layout (never copied)."""

    def __init__(self, buf: memoryview, *, cached: int = CACHED_ACCOUNTS) -> None:
        records, known, entries, slots, table_at, offsets_at, slots_at, layout, magic = (
            _trailer(buf))
        if (magic, layout) != (MAGIC, LAYOUT):
            raise CorruptRecordError(f"not a compact index (magic {magic!r}, layout {layout})")
        if slots & (slots - 1) or slots_at + 4 * slots > len(buf) - TRAILER.size \
                or offsets_at + 8 * (records + 1) > slots_at or records >= slots:
            raise CorruptRecordError("a compact index whose tables do not fit it")
        self._buf, self.records = buf, records
        self.account_count, self.entry_count = known, entries
        self.strings = StringTable.unpacked(buf, table_at).strings
        self._offsets = buf[offsets_at:offsets_at + 8 * (records + 1)].cast("Q")
        self._slots = buf[slots_at:slots_at + 4 * slots].cast("I")
        self._mask = slots - 1
        self._cache: LRUCache[str, AccountState] = LRUCache(maxsize=max(1, cached))
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """The size of the buffer."""
        return len(self._buf)

    def state(self, account_id: str) -> AccountState:
        """The account's state (unpacked once, then cached); UNKNOWN for an id not held."""
        with self._lock:
            found = self._cache.get(account_id)
        if found is not None:
            return found
        ordinal = self.find(account_id)
        found = UNKNOWN if ordinal < 0 else self.state_at(ordinal)
        with self._lock:
            self._cache[account_id] = found
        return found

    def find(self, account_id: str) -> int:
        """The ordinal of the account's record, or -1."""
        key = account_id.encode("utf-8", "surrogatepass")
        slots, offsets, buf, mask = self._slots, self._offsets, self._buf, self._mask
        slot = zlib.crc32(key) & mask
        for _ in range(mask + 1):  # a table is never full; a damaged one ends here too
            ordinal = slots[slot]
            if not ordinal:
                return -1
            if record_id(buf, offsets[ordinal - 1]) == key:
                return ordinal - 1
            slot = (slot + 1) & mask
        return -1

    def state_at(self, ordinal: int) -> AccountState:
        """The state of the record at `ordinal` (unpacked now, not cached)."""
        return unpack_account(self._buf, self._offsets[ordinal], self.strings)

    def account_id_at(self, ordinal: int) -> str:
        """The account id of the record at `ordinal`."""
        return str(record_id(self._buf, self._offsets[ordinal]), "utf-8")

    def record_at(self, ordinal: int) -> memoryview:
        """The packed bytes of the record at `ordinal`, for copying into a new base."""
        return self._buf[self._offsets[ordinal]:self._offsets[ordinal + 1]]

    def record_counts(self, ordinal: int) -> tuple[bool, int]:
        """Whether the record at `ordinal` holds an account row, and its entry count."""
        flags, _, _, entries, _ = ACCOUNT_HEAD.unpack_from(self._buf, self._offsets[ordinal])
        return bool(flags & 1), int(entries)

    def ids(self) -> Iterator[str]:
        """Every account id the base holds, in record order (sorted when built sorted)."""
        return (self.account_id_at(ordinal) for ordinal in range(self.records))


def _trailer(buf: memoryview) -> tuple[int, int, int, int, int, int, int, int, bytes]:
    if len(buf) < TRAILER.size:
        raise CorruptRecordError("too short to be a compact index")
    fields: tuple[int, int, int, int, int, int, int, int, bytes] = TRAILER.unpack_from(
        buf, len(buf) - TRAILER.size)
    if fields[-1] == MAGIC and not fields[4] <= fields[5] <= fields[6] <= len(buf):
        raise CorruptRecordError("a compact index whose sections lie outside it")
    return fields


class BaseWriter:
    """Packs a base buffer a record at a time; `take()` hands over what is packed so far
    (to stream it to a file), `finish()` the rest: tables and trailer."""

    def __init__(self, strings: list[str] | None = None) -> None:
        self.table = StringTable(strings or [""])
        self._refs: dict[str, int] = {}  # the table's refs, for packing store values
        self.out = bytearray()
        self._taken = 0
        self._offsets = array("Q")
        self._hashes = array("I")
        self.account_count = self.entry_count = 0

    @property
    def position(self) -> int:
        """The offset in the buffer of the next byte packed."""
        return self._taken + len(self.out)

    def add_state(self, account_id: str, state: AccountState) -> None:
        """Pack one account's state (skipped when it holds nothing)."""
        if state.account is None and not state.account_scopes and not state.user_scopes \
                and not state.erasures:
            return
        self._start(account_id)
        self.entry_count += pack_state(self.out, self.table, account_id, state)
        self.account_count += state.account is not None

    def add_rows(self, account_id: str, account: Account | None, entries: list[ConsentEntry],
                 erasures: list[Erasure]) -> None:
        """Pack one account from its rows, as they come from a store (no state is made)."""
        if account is None and not entries and not erasures:
            return
        self._start(account_id)
        pack_rows(self.out, self.table, account_id, account, entries, erasures)
        self.entry_count += len(entries)
        self.account_count += account is not None

    def add_values(self, account_id: str, account: tuple[Any, ...] | None,
                   entries: Sequence[tuple[Any, ...]],
                   erasures: Sequence[tuple[Any, ...]]) -> None:
        """Pack one account from its rows' store values (see `packed.pack_value_rows`),
        as `add_rows` packs the same rows made into objects."""
        if account is None and not entries and not erasures:
            return
        self._start(account_id)
        pack_value_rows(self.out, self._refs, self.table, account_id, account, entries,
                        erasures)
        self.entry_count += len(entries)
        self.account_count += account is not None

    def add_record(self, account_id: str, record: memoryview, known: bool, entries: int) -> None:
        """Copy a record packed against a table this writer's table extends."""
        self._start(account_id)
        self.out += record
        self.account_count += known
        self.entry_count += entries

    def _start(self, account_id: str) -> None:
        self._offsets.append(self.position)
        self._hashes.append(zlib.crc32(account_id.encode("utf-8", "surrogatepass")))

    def take(self) -> bytes:
        """What was packed since the last take (the header comes with `finish`)."""
        taken, self.out = bytes(self.out), bytearray()
        self._taken += len(taken)
        return taken

    def finish(self) -> bytearray:
        """The rest of the buffer after the records: tables, then the trailer."""
        records = len(self._offsets)
        self._offsets.append(self.position)
        self._pad()
        table_at = self.position
        self.out += self.table.packed()
        self._pad()
        offsets_at = self.position
        self.out += self._offsets.tobytes()
        slots_at, slots = self.position, _slot_count(records)
        self.out += _slots(self._hashes, slots).tobytes()
        self.out += TRAILER.pack(records, self.account_count, self.entry_count, slots, table_at,
                                 offsets_at, slots_at, LAYOUT, MAGIC)
        return self.out

    def _pad(self) -> None:
        self.out += bytes(-self.position % _ALIGN)

    def built(self) -> bytearray:
        """The whole buffer, when nothing was taken."""
        if self._taken:
            raise ValueError("part of the buffer was taken; write the rest with finish()")
        return self.finish()


def _slot_count(records: int) -> int:
    """A power of two at least twice the records: probes stay short."""
    return 1 << max(3, (2 * records).bit_length())


def _slots(hashes: array[int], count: int) -> array[int]:
    slots, mask = array("I", bytes(4 * count)), count - 1
    for ordinal, hashed in enumerate(hashes, 1):
        slot = hashed & mask
        while slots[slot]:
            slot = (slot + 1) & mask
        slots[slot] = ordinal
    return slots
