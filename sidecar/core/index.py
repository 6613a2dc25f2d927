"""The consent index: accounts, consent entries and erasures at one consent version.

An index is a read-only compact base (`compact.CompactBase`: packed records in one buffer,
possibly a mapped file) under an overlay of the accounts changed since, a persistent map
(`immutables.Map`). Applying changes touches only their accounts and returns a new index
that shares everything else, so a reader holding the old one keeps a consistent view while
the next is being built, and a change costs O(log n), never a copy of the accounts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from immutables import Map

from .account_state import UNKNOWN, AccountState
from .compact import BaseWriter, CompactBase
from .errors import MaytrainError
from .model import Account, Change, ConsentEntry, Erasure, Micros, StoreRow

__all__ = ["AccountState", "ConsentIndex", "OutOfOrderChangeError", "packed_chunks"]

Overlay = Map[str, tuple[int, AccountState]]
"""Changed accounts: their state, and the version of the last change to each."""
_EMPTY: Overlay = Map()
AccountRows = tuple[str, Account | None, list[ConsentEntry], list[Erasure]]
"""One account's rows: its id, its account row (None if the store lacks it), entries, erasures."""
_CHUNK = 4 << 20


class OutOfOrderChangeError(MaytrainError):
    """A change whose version does not follow the index's: the feed was not applied in order."""


@dataclass(frozen=True, slots=True)
class ConsentIndex:
    """Accounts by id at one consent version; `synced_at` is when the data was last known
    current (the last successful sync, or when a warm-start snapshot was taken)."""

    version: int
    base: CompactBase
    overlay: Overlay = field(default=_EMPTY)
    synced_at: Micros | None = None
    entry_count: int = 0
    account_count: int = 0

    @classmethod
    def build(cls, version: int, rows: Iterable[StoreRow],
              synced_at: Micros | None = None) -> ConsentIndex:
        """An index holding the given snapshot rows, all of them at `version`."""
        states: dict[str, AccountState] = {}
        for row in rows:
            states[row.account_id] = states.get(row.account_id, UNKNOWN).with_row(row)
        writer = BaseWriter()
        for account_id in sorted(states):
            writer.add_state(account_id, states[account_id])
        return cls.on(CompactBase(memoryview(writer.built())), version, synced_at)

    @classmethod
    def from_groups(cls, version: int, groups: Iterable[AccountRows],
                    synced_at: Micros | None = None) -> ConsentIndex:
        """An index of rows that arrive grouped by account, packed as they come (a store's
        snapshot streamed in account order): no state is made for any account."""
        writer = BaseWriter()
        for account_id, account, entries, erasures in groups:
            writer.add_rows(account_id, account, entries, erasures)
        return cls.on(CompactBase(memoryview(writer.built())), version, synced_at)

    @classmethod
    def on(cls, base: CompactBase, version: int, synced_at: Micros | None = None) -> ConsentIndex:
        """An index of exactly what `base` holds, at `version`."""
        return cls(version, base, _EMPTY, synced_at, base.entry_count, base.account_count)

    def state(self, account_id: str) -> AccountState:
        """The account's state; one with no account for an id the store does not know."""
        held = self.overlay.get(account_id)
        return self.base.state(account_id) if held is None else held[1]

    def apply(self, changes: Iterable[Change], *, synced_at: Micros | None = None,
              version: int | None = None) -> ConsentIndex:
        """A new index with the changes (ascending versions above this one) applied.

        Changes at or below the index's version are already in it and are skipped, so a
        feed that is re-read after a reconnect is harmless.
        """
        changes = [change for change in changes if change.version > self.version]
        synced = self.synced_at if synced_at is None else synced_at
        if not changes:
            return replace(self, version=max(self.version, version or 0), synced_at=synced)
        overlay = self.overlay.mutate()
        entries, accounts, last = self.entry_count, self.account_count, self.version
        for change in changes:
            if change.version < last:
                raise OutOfOrderChangeError(
                    f"change {change.version} arrived after change {last}")
            last, account_id = change.version, change.row.account_id
            held = overlay.get(account_id)
            before = self.base.state(account_id) if held is None else held[1]
            after = before.with_row(change.row)
            overlay[account_id] = (last, after)
            entries += after.entry_count - before.entry_count
            accounts += (after.account is not None) - (before.account is not None)
        return ConsentIndex(max(last, version or 0), self.base, overlay.finish(), synced,
                            entries, accounts)

    def confirmed(self, synced_at: Micros) -> ConsentIndex:
        """The same data, known current at `synced_at`."""
        return replace(self, synced_at=synced_at)

    def rebased(self, base: CompactBase, base_version: int) -> ConsentIndex:
        """The same data over `base`, a packing of this index's data at `base_version`:
        only changes after that version stay in the overlay."""
        kept = Map({account_id: held for account_id, held in self.overlay.items()
                    if held[0] > base_version})
        entries, accounts = base.entry_count, base.account_count
        for account_id, (_, state) in kept.items():
            before = base.state(account_id)
            entries += state.entry_count - before.entry_count
            accounts += (state.account is not None) - (before.account is not None)
        return ConsentIndex(self.version, base, kept, self.synced_at, entries, accounts)

    @property
    def changed_accounts(self) -> int:
        """How many accounts the overlay holds (changed since the base was packed)."""
        return len(self.overlay)

    def states(self) -> Iterator[tuple[str, AccountState]]:
        """Every account and its state, in the base's order with new accounts merged in."""
        for account_id, ordinal, held in self._merged():
            yield account_id, self.base.state_at(ordinal) if held is None else held

    def rows(self) -> list[StoreRow]:
        """Every row the index holds, for snapshots: accounts, entries, then erasures."""
        return [row for _, state in self.states() for row in state.rows()]

    def _merged(self) -> Iterator[tuple[str, int, AccountState | None]]:
        """(account id, base ordinal or -1, overlay state or None), merged by id."""
        base, overlay = self.base, self.overlay
        added = sorted(a for a in overlay if base.find(a) < 0)
        next_added = 0
        for ordinal in range(base.records):
            account_id = base.account_id_at(ordinal)
            while next_added < len(added) and added[next_added] < account_id:
                yield added[next_added], -1, overlay[added[next_added]][1]
                next_added += 1
            held = overlay.get(account_id)
            yield account_id, ordinal, None if held is None else held[1]
        for account_id in added[next_added:]:
            yield account_id, -1, overlay[account_id][1]


def packed_chunks(index: ConsentIndex) -> Iterator[bytes]:
    """The index's data as a new base buffer, a chunk at a time from the front (so that a
    caller can stream it to a file); unchanged accounts are copied, not unpacked."""
    base = index.base
    writer = BaseWriter(list(base.strings))
    for account_id, ordinal, held in index._merged():
        if held is not None:
            writer.add_state(account_id, held)
        else:
            writer.add_record(account_id, base.record_at(ordinal), *base.record_counts(ordinal))
        if len(writer.out) >= _CHUNK:
            yield writer.take()
    yield writer.take()
    yield bytes(writer.finish())
