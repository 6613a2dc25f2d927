"""The consent index: accounts, consent entries and erasures at one consent version.

Built from store rows, then advanced by applying change rows in version order. An index is
never mutated once built: `apply` returns a new index that shares every untouched account,
so a reader holding the old one keeps a consistent view while the next is being built.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from .errors import MaytrainError
from .model import Account, Change, ConsentEntry, Erasure, Micros, StoreRow
from .scopes import Scope

_NO_USERS: Mapping[str, tuple[Scope, ...]] = {}


class OutOfOrderChangeError(MaytrainError):
    """A change whose version does not follow the index's: the feed was not applied in order."""


@dataclass(frozen=True, slots=True)
class AccountState:
    """Everything the decision needs about one account. `account` is None when the store
    holds entries for an account it does not know (the decision denies such records)."""

    account: Account | None
    account_scopes: tuple[Scope, ...] = ()
    user_scopes: Mapping[str, tuple[Scope, ...]] = field(default_factory=lambda: _NO_USERS)
    erasures: tuple[Erasure, ...] = ()
    erased: bool = False
    erased_users: frozenset[str] = frozenset()

    def scopes_of(self, user_id: str) -> tuple[Scope, ...]:
        """The user's own entries in this account (empty for no user)."""
        return self.user_scopes.get(user_id, ()) if user_id else ()

    def entries(self) -> list[ConsentEntry]:
        """Every consent entry of the account, account level first."""
        scopes = list(self.account_scopes)
        for user_scopes in self.user_scopes.values():
            scopes.extend(user_scopes)
        return [scope.entry for scope in scopes]

    def with_row(self, row: StoreRow) -> AccountState:
        """A copy of the state with one row inserted or replaced (matched by id)."""
        if isinstance(row, Account):
            return replace(self, account=row)
        if isinstance(row, Erasure):
            erasures = tuple(e for e in self.erasures if e.erasure_id != row.erasure_id)
            if row.user_id:
                return replace(self, erasures=erasures + (row,),
                               erased_users=self.erased_users | {row.user_id})
            return replace(self, erasures=erasures + (row,), erased=True)
        return self._with_entry(row)

    def _with_entry(self, entry: ConsentEntry) -> AccountState:
        scope = Scope(entry)
        if not entry.user_id:
            return replace(self, account_scopes=_upsert(self.account_scopes, scope))
        users = dict(self.user_scopes)
        users[entry.user_id] = _upsert(users.get(entry.user_id, ()), scope)
        return replace(self, user_scopes=users)


def _upsert(scopes: tuple[Scope, ...], scope: Scope) -> tuple[Scope, ...]:
    kept = tuple(s for s in scopes if s.entry.entry_id != scope.entry.entry_id)
    return kept + (scope,)


_UNKNOWN = AccountState(account=None)


@dataclass(frozen=True, slots=True)
class ConsentIndex:
    """Accounts by id at one consent version; `synced_at` is when the data was last known
    current (the last successful sync, or when a warm-start snapshot was taken)."""

    version: int
    accounts: Mapping[str, AccountState]
    synced_at: Micros | None = None
    entry_count: int = 0

    @classmethod
    def build(cls, version: int, rows: Iterable[StoreRow],
              synced_at: Micros | None = None) -> ConsentIndex:
        """An index holding the given snapshot rows, all of them at `version`."""
        accounts: dict[str, AccountState] = {}
        _apply_rows(accounts, rows)
        return cls(version, accounts, synced_at, _count_entries(accounts))

    def state(self, account_id: str) -> AccountState:
        """The account's state; one with no account for an id the store does not know."""
        return self.accounts.get(account_id, _UNKNOWN)

    def apply(self, changes: Iterable[Change], *, synced_at: Micros | None = None,
              version: int | None = None) -> ConsentIndex:
        """A new index with the changes (ascending versions above this one) applied.

        Changes at or below the index's version are already in it and are skipped, so a
        feed that is re-read after a reconnect is harmless.
        """
        changes = [change for change in changes if change.version > self.version]
        if not changes:
            return replace(self, version=max(self.version, version or 0),
                           synced_at=self.synced_at if synced_at is None else synced_at)
        accounts = dict(self.accounts)
        entry_count, last = self.entry_count, self.version
        for change in changes:
            if change.version < last:
                raise OutOfOrderChangeError(
                    f"change {change.version} arrived after change {last}")
            last = change.version
            before = accounts.get(_account_of(change.row), _UNKNOWN)
            after = accounts[_account_of(change.row)] = before.with_row(change.row)
            entry_count += _entries_in(after) - _entries_in(before)
        return ConsentIndex(max(last, version or 0), accounts,
                            self.synced_at if synced_at is None else synced_at, entry_count)

    def confirmed(self, synced_at: Micros) -> ConsentIndex:
        """The same data, known current at `synced_at`."""
        return replace(self, synced_at=synced_at)

    def rows(self) -> list[StoreRow]:
        """Every row the index holds, for snapshots: accounts, entries, then erasures."""
        rows: list[StoreRow] = []
        for _, state in sorted(self.accounts.items()):
            if state.account is not None:
                rows.append(state.account)
            rows.extend(state.entries())
            rows.extend(state.erasures)
        return rows


def _account_of(row: StoreRow) -> str:
    return row.account_id


def _apply_rows(accounts: dict[str, AccountState], rows: Iterable[StoreRow]) -> None:
    for row in rows:
        account_id = _account_of(row)
        accounts[account_id] = accounts.get(account_id, _UNKNOWN).with_row(row)


def _entries_in(state: AccountState) -> int:
    return len(state.account_scopes) + sum(len(s) for s in state.user_scopes.values())


def _count_entries(accounts: Mapping[str, AccountState]) -> int:
    return sum(_entries_in(state) for state in accounts.values())
