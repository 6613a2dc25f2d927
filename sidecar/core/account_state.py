"""AccountState: everything the decision needs about one account, at one consent version."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from .model import Account, ConsentEntry, Erasure, StoreRow
from .scopes import Scope

_NO_USERS: Mapping[str, tuple[Scope, ...]] = {}


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

    @classmethod
    def of(cls, account: Account | None, entries: Iterable[ConsentEntry],
           erasures: Iterable[Erasure] = ()) -> AccountState:
        """The state holding these rows, entries and erasures in the order given."""
        own: list[Scope] = []
        users: dict[str, list[Scope]] = {}
        for entry in entries:
            (users.setdefault(entry.user_id, []) if entry.user_id else own).append(Scope(entry))
        return cls.of_scopes(account, own, users, list(erasures))

    @classmethod
    def of_scopes(cls, account: Account | None, own: list[Scope],
                  users: dict[str, list[Scope]], erasures: list[Erasure]) -> AccountState:
        """The state holding these scopes (account level, by user) and erasures."""
        kept = tuple(erasures)
        return cls(account, tuple(own),
                   {user: tuple(scopes) for user, scopes in users.items()} if users else _NO_USERS,
                   kept, any(not x.user_id for x in kept),
                   frozenset(x.user_id for x in kept if x.user_id) if kept else frozenset())

    def scopes_of(self, user_id: str) -> tuple[Scope, ...]:
        """The user's own entries in this account (empty for no user)."""
        return self.user_scopes.get(user_id, ()) if user_id else ()

    @property
    def entry_count(self) -> int:
        """How many consent entries the account holds, at every level."""
        return len(self.account_scopes) + sum(len(s) for s in self.user_scopes.values())

    def entries(self) -> list[ConsentEntry]:
        """Every consent entry of the account, account level first."""
        scopes = list(self.account_scopes)
        for user_scopes in self.user_scopes.values():
            scopes.extend(user_scopes)
        return [scope.entry for scope in scopes]

    def rows(self) -> list[StoreRow]:
        """The account's rows: the account (if known), its entries, then its erasures."""
        rows: list[StoreRow] = [] if self.account is None else [self.account]
        rows.extend(self.entries())
        rows.extend(self.erasures)
        return rows

    def with_row(self, row: StoreRow) -> AccountState:
        """A copy of the state with one row inserted or replaced (matched by id)."""
        if isinstance(row, Account):
            return replace(self, account=row)
        if isinstance(row, Erasure):
            # Erasures are never rewritten in the store; should one be, the state is that of
            # the erasures held, as when it is packed and unpacked again.
            erasures = tuple(e for e in self.erasures if e.erasure_id != row.erasure_id)
            erasures += (row,)
            return replace(self, erasures=erasures, erased=any(not e.user_id for e in erasures),
                           erased_users=frozenset(e.user_id for e in erasures if e.user_id))
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


UNKNOWN = AccountState(account=None)
"""The state of an account the index holds nothing about."""
