"""One account's state packed as bytes: its account row, consent entries and erasures.

Short, repeated strings (categories, purposes, regions, writers) are stored once in a
`StringTable` and named by position; ids, users and evidence are stored inline. Optional
times are present only when set, as a mask byte says, so a typical entry packs into about
60 bytes instead of the 750 its objects take. `unpack_account` turns a record back into
the `AccountState` the decision reads, row for row equal to the one that was packed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import itemgetter
from struct import Struct
from typing import Any

from .account_state import AccountState
from .errors import MaytrainError
from .model import Account, ConsentEntry, Effect, Erasure, Micros
from .scopes import EntryFields, Scope

ACCOUNT_HEAD = Struct("<BHIII")
"""flags, id length, region ref, entry count, erasure count; then the id and created_at."""
_KNOWN, _CREATED = 1, 2
_GRANT, _USER, _EVIDENCE = 1, 2, 4
_TIME_BITS = (8, 16, 32, 64, 128)  # valid_from, valid_until, covers_data_from, recorded_at, ended
_ENTRY_HEAD = "<BIIIq"  # mask, category, purpose, recorded_by, version; then the set times
_ENTRIES = [Struct(_ENTRY_HEAD + "q" * sum(1 for b in _TIME_BITS if m & b)) for m in range(256)]


def _time_picker(mask: int) -> itemgetter[tuple[Micros | None, ...]]:
    """Picks the five optional times out of an unpacked entry (plus a trailing None)."""
    set_bits = [bit for bit in _TIME_BITS if mask & bit]
    last = 5 + len(set_bits)  # the None appended after the unpacked values
    return itemgetter(*[5 + set_bits.index(bit) if mask & bit else last for bit in _TIME_BITS])


_TIMES_OF = [_time_picker(mask) for mask in range(256)]
_NONE = (None,)
_ERASURE = [Struct("<BIq" + ("q" if m & 2 else "")) for m in range(4)]
_TIME, _LONG = Struct("<q"), Struct("<I")


class CorruptRecordError(MaytrainError):
    """Packed bytes that do not hold the record they claim (a damaged or foreign buffer)."""


class StringTable:
    """Strings kept once and named by their position; new ones are appended, never moved."""

    def __init__(self, strings: Iterable[str] = ()) -> None:
        self.strings = list(strings)
        self._refs = {text: i for i, text in enumerate(self.strings)}

    def ref(self, text: str) -> int:
        """The position of `text`, added at the end if it is new."""
        found = self._refs.get(text)
        if found is None:
            found = self._refs[text] = len(self.strings)
            self.strings.append(text)
        return found

    def packed(self) -> bytes:
        """The table as bytes: a count, then each string length-prefixed."""
        out = bytearray(_LONG.pack(len(self.strings)))
        for text in self.strings:
            put_text(out, text)
        return bytes(out)

    @classmethod
    def unpacked(cls, buf: memoryview, pos: int) -> StringTable:
        """The table packed at `pos`."""
        (count,) = _LONG.unpack_from(buf, pos)
        pos += _LONG.size
        strings = []
        for _ in range(count):
            text, pos = take_text(buf, pos)
            strings.append(text)
        return cls(strings)


def put_text(out: bytearray, text: str) -> None:
    """Append `text` as UTF-8 after its length (one byte, or 255 and four)."""
    data = text.encode("utf-8")
    if len(data) < 255:
        out.append(len(data))
    else:
        out.append(255)
        out += _LONG.pack(len(data))
    out += data


def take_text(buf: memoryview, pos: int) -> tuple[str, int]:
    """The text packed at `pos`, and the position after it."""
    size = buf[pos]
    pos += 1
    if size == 255:
        (size,) = _LONG.unpack_from(buf, pos)
        pos += _LONG.size
    end = pos + size
    if end > len(buf):
        raise CorruptRecordError(f"a string runs past the end of the buffer at {pos}")
    return str(buf[pos:end], "utf-8"), end


def pack_state(out: bytearray, table: StringTable, account_id: str, state: AccountState) -> int:
    """Append the account's record; returns its entry count."""
    entries = state.entries()
    pack_rows(out, table, account_id, state.account, entries, state.erasures)
    return len(entries)


def pack_rows(out: bytearray, table: StringTable, account_id: str, account: Account | None,
              entries: Sequence[ConsentEntry], erasures: Sequence[Erasure]) -> None:
    """Append the record of an account's rows (entries in their order, then erasures)."""
    _pack_head(out, table, account_id, account, len(entries), len(erasures))
    for entry in entries:
        pack_entry(out, table, entry)
    for erasure in erasures:
        pack_erasure(out, table, erasure)


def _pack_head(out: bytearray, table: StringTable, account_id: str, account: Account | None,
               entries: int, erasures: int) -> None:
    key = account_id.encode("utf-8")
    flags = 0 if account is None else _KNOWN | (_CREATED if account.created_at is not None else 0)
    region = table.ref(account.region) if account is not None else 0
    out += ACCOUNT_HEAD.pack(flags, len(key), region, entries, erasures)
    out += key
    if account is not None and account.created_at is not None:
        out += _TIME.pack(account.created_at)


def pack_entry(out: bytearray, table: StringTable, e: ConsentEntry) -> None:
    """Append one consent entry."""
    times = (e.valid_from, e.valid_until, e.covers_data_from, e.recorded_at, e.ended_version)
    mask = ((_GRANT if e.effect is Effect.GRANT else 0) | (_USER if e.user_id else 0)
            | (_EVIDENCE if e.evidence else 0))
    for bit, value in zip(_TIME_BITS, times, strict=True):
        if value is not None:
            mask |= bit
    out += _ENTRIES[mask].pack(mask, table.ref(e.category), table.ref(e.purpose),
                               table.ref(e.recorded_by), e.version,
                               *[t for t in times if t is not None])
    put_text(out, e.entry_id)
    if e.user_id:
        put_text(out, e.user_id)
    if e.evidence:
        put_text(out, e.evidence)


def pack_erasure(out: bytearray, table: StringTable, x: Erasure) -> None:
    """Append one erasure."""
    mask = (1 if x.user_id else 0) | (2 if x.requested_at is not None else 0)
    times = () if x.requested_at is None else (x.requested_at,)
    out += _ERASURE[mask].pack(mask, table.ref(x.recorded_by), x.version, *times)
    put_text(out, x.erasure_id)
    if x.user_id:
        put_text(out, x.user_id)


ENTRY_COLUMNS = ("account_id", "id", "user_id", "category", "purpose", "effect", "valid_from",
                 "valid_until", "covers_data_from", "evidence", "recorded_at", "recorded_by",
                 "version", "ended_version")
"""The values of an entry row that `pack_value_rows` packs, in order (its store columns)."""
ERASURE_COLUMNS = ("account_id", "id", "user_id", "requested_at", "recorded_by", "version")
"""The values of an erasure row that `pack_value_rows` packs, in order."""
# The packed times, as positions in an entry row, in their mask bits' order.
_TIME_AT = (6, 7, 8, 10, 13)
_PUT_TIMES = [itemgetter(*[at for bit, at in zip(_TIME_BITS, _TIME_AT, strict=True)
                           if m & bit] or [0]) for m in range(256)]


def pack_value_rows(out: bytearray, refs: dict[str, int], table: StringTable, account_id: str,
                    account: tuple[Any, ...] | None, entries: Sequence[tuple[Any, ...]],
                    erasures: Sequence[tuple[Any, ...]]) -> None:
    """Append the record of an account's rows given as store values (`ENTRY_COLUMNS`,
    `ERASURE_COLUMNS`; an account as id, region, created), as `pack_rows` packs the same
    rows as objects; `refs` is a cache of `table`'s refs."""
    key = account_id.encode("utf-8")
    if account is None:
        out += ACCOUNT_HEAD.pack(0, len(key), 0, len(entries), len(erasures))
        out += key
    else:
        region, created = account[1] or "", account[2]
        ref = refs.get(region)
        if ref is None:
            ref = refs[region] = table.ref(region)
        flags = _KNOWN if created is None else _KNOWN | _CREATED
        out += ACCOUNT_HEAD.pack(flags, len(key), ref, len(entries), len(erasures))
        out += key
        if created is not None:
            out += _TIME.pack(created)
    for e in entries:
        _pack_entry_values(out, refs, table, e)
    for x in erasures:
        pack_erasure(out, table, Erasure(x[1], x[0], x[2] or "", x[3], x[4], x[5]))


def _pack_entry_values(out: bytearray, refs: dict[str, int], table: StringTable,
                       e: tuple[Any, ...]) -> None:
    user, evidence = e[2], e[9]
    mask = ((_GRANT if e[5] == "GRANT" else 0) | (_USER if user else 0)
            | (_EVIDENCE if evidence else 0) | (8 if e[6] is not None else 0)
            | (16 if e[7] is not None else 0) | (32 if e[8] is not None else 0)
            | (64 if e[10] is not None else 0) | (128 if e[13] is not None else 0))
    try:
        category, purpose, by = refs[e[3]], refs[e[4]], refs[e[11]]
    except KeyError:
        category, purpose, by = (_ref(refs, table, e[3]), _ref(refs, table, e[4]),
                                 _ref(refs, table, e[11]))
    times = _PUT_TIMES[mask](e) if mask & 248 else ()
    out += _ENTRIES[mask].pack(mask, category, purpose, by, e[12],
                               *(times if type(times) is tuple else (times,)))
    data = e[1].encode("utf-8")
    if len(data) < 255:
        out.append(len(data))
        out += data
    else:
        put_text(out, e[1])
    if user:
        put_text(out, user)
    if evidence:
        put_text(out, evidence)


def _ref(refs: dict[str, int], table: StringTable, text: str) -> int:
    found = refs.get(text)
    if found is None:
        found = refs[text] = table.ref(text)
    return found


def record_id(buf: memoryview, pos: int) -> memoryview:
    """The UTF-8 account id of the record at `pos`, unread."""
    start = pos + ACCOUNT_HEAD.size
    return buf[start:start + ACCOUNT_HEAD.unpack_from(buf, pos)[1]]


def unpack_account(buf: memoryview, pos: int, strings: Sequence[str]) -> AccountState:
    """The account state packed at `pos` (see `pack_state`)."""
    try:
        return _unpack(buf, pos, strings)
    except (IndexError, ValueError) as exc:  # struct.error is a ValueError
        raise CorruptRecordError(f"the account record at {pos} is damaged ({exc})") from None


def _unpack(buf: memoryview, pos: int, strings: Sequence[str]) -> AccountState:
    flags, size, region, entry_count, erasure_count = ACCOUNT_HEAD.unpack_from(buf, pos)
    pos += ACCOUNT_HEAD.size
    account_id = str(buf[pos:pos + size], "utf-8")
    pos += size
    account = None
    if flags & _KNOWN:
        created = None
        if flags & _CREATED:
            (created,) = _TIME.unpack_from(buf, pos)
            pos += _TIME.size
        account = Account(account_id, strings[region], created)
    own: list[Scope] = []
    users: dict[str, list[Scope]] = {}
    for _ in range(entry_count):
        fields, pos = _unpack_entry(buf, pos, account_id, strings)
        (users.setdefault(fields[5], []) if fields[5] else own).append(Scope.of_fields(fields))
    erasures = []
    for _ in range(erasure_count):
        erasure, pos = _unpack_erasure(buf, pos, account_id, strings)
        erasures.append(erasure)
    return AccountState.of_scopes(account, own, users, erasures)


def _unpack_entry(buf: memoryview, pos: int, account_id: str,
                  strings: Sequence[str]) -> tuple[EntryFields, int]:
    mask = buf[pos]
    layout = _ENTRIES[mask]
    values = layout.unpack_from(buf, pos)
    pos += layout.size
    _, category, purpose, recorded_by, version = values[:5]
    times = _TIMES_OF[mask](values + _NONE)
    entry_id, pos = take_text(buf, pos)
    user = evidence = ""
    if mask & _USER:
        user, pos = take_text(buf, pos)
    if mask & _EVIDENCE:
        evidence, pos = take_text(buf, pos)
    effect = Effect.GRANT if mask & _GRANT else Effect.OPT_OUT
    return (entry_id, account_id, strings[category], strings[purpose], effect, user,
            times[0], times[1], times[2], evidence, times[3], strings[recorded_by],
            version, times[4]), pos


def _unpack_erasure(buf: memoryview, pos: int, account_id: str,
                    strings: Sequence[str]) -> tuple[Erasure, int]:
    layout = _ERASURE[buf[pos] & 3]
    mask, recorded_by, version, *requested = layout.unpack_from(buf, pos)
    pos += layout.size
    erasure_id, pos = take_text(buf, pos)
    user = ""
    if mask & 1:
        user, pos = take_text(buf, pos)
    return Erasure(erasure_id, account_id, user, requested[0] if requested else None,
                   strings[recorded_by], version), pos
