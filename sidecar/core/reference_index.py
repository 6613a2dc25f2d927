"""PlainIndex: the consent index as a plain dict of AccountState, slow and obviously right.

It was the sidecar's index before the compact one; tests hold `ConsentIndex` equal to it
after random sequences of changes, and the index benchmarks measure it as the baseline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from .account_state import UNKNOWN, AccountState
from .index import OutOfOrderChangeError
from .model import Change, Micros, StoreRow


@dataclass(frozen=True, slots=True)
class PlainIndex:
    """Accounts by id at one consent version, each change copying the accounts dict."""

    version: int
    accounts: Mapping[str, AccountState]
    synced_at: Micros | None = None

    @classmethod
    def build(cls, version: int, rows: Iterable[StoreRow],
              synced_at: Micros | None = None) -> PlainIndex:
        """An index holding the given snapshot rows, all of them at `version`."""
        accounts: dict[str, AccountState] = {}
        for row in rows:
            accounts[row.account_id] = accounts.get(row.account_id, UNKNOWN).with_row(row)
        return cls(version, accounts, synced_at)

    @property
    def entry_count(self) -> int:
        """Consent entries at every level of every account."""
        return sum(state.entry_count for state in self.accounts.values())

    @property
    def account_count(self) -> int:
        """Accounts the store knows (not those only named by entries)."""
        return sum(1 for state in self.accounts.values() if state.account is not None)

    def state(self, account_id: str) -> AccountState:
        """The account's state; one with no account for an id the store does not know."""
        return self.accounts.get(account_id, UNKNOWN)

    def apply(self, changes: Iterable[Change]) -> PlainIndex:
        """A new index with the changes (ascending versions above this one) applied."""
        changes = [change for change in changes if change.version > self.version]
        if not changes:
            return self
        accounts, last = dict(self.accounts), self.version
        for change in changes:
            if change.version < last:
                raise OutOfOrderChangeError(
                    f"change {change.version} arrived after change {last}")
            last = change.version
            account_id = change.row.account_id
            accounts[account_id] = accounts.get(account_id, UNKNOWN).with_row(change.row)
        return PlainIndex(last, accounts, self.synced_at)

    def rows(self) -> list[StoreRow]:
        """Every row the index holds: accounts, entries, then erasures, by account id."""
        return [row for _, state in sorted(self.accounts.items()) for row in state.rows()]

    def with_synced_at(self, synced_at: Micros) -> PlainIndex:
        """The same data, known current at `synced_at`."""
        return replace(self, synced_at=synced_at)
