"""Users that make no difference to a decision, folded into one before deciding.

A plan reads a record's user only through the user's own entries and erasures in the
account, whether there is a user at all, and whether the id is well formed. So in an
account, every well-formed user without entries or an erasure of their own is decided as
any other such user: the decision is asked once for all of them, not once per user — what
makes a manifest of many users and accounts cheap to re-decide. `tests/cli/test_purge_plan.py`
holds the folded decision to `decide()` record for record.
"""

from __future__ import annotations

import numpy as np

from ..core.columnar import Column, Columns
from ..core.index import ConsentIndex
from ..core.validation import id_problem

FOLDED = "maytrain:any-other-user"
"""The user that stands for the folded ones (an account where it is a real user with
entries of its own folds nobody)."""
_EVERYONE = frozenset({FOLDED})


class UserFolder:
    """Folds users against one index, remembering each account's users that matter."""

    def __init__(self, index: ConsentIndex) -> None:
        self.index = index
        self._relevant: dict[str, frozenset[str]] = {}

    def fold(self, columns: Columns) -> Columns:
        """The same records, each user that does not matter replaced by FOLDED."""
        users, accounts = columns.user_id, columns.account_id
        foldable = np.array([bool(u) and not id_problem(u, required=False)
                             for u in users.values], np.bool_)
        relevant = [self._users_that_matter(a) for a in accounts.values]
        plain = np.array([not r for r in relevant], np.bool_)
        candidates = foldable[users.codes]
        folded = plain[accounts.codes] & candidates
        mixed = np.flatnonzero(~plain[accounts.codes] & candidates)
        if mixed.size:
            width = len(users.values)
            pairs = accounts.codes[mixed].astype(np.int64) * width + users.codes[mixed]
            distinct, inverse = np.unique(pairs, return_inverse=True)
            keep = np.array([_matters(relevant[p // width], users.values[p % width])
                             for p in distinct.tolist()], np.bool_)
            folded[mixed] = ~keep[inverse.reshape(-1)]
        if not folded.any():
            return columns
        codes = np.where(folded, len(users.values), users.codes).astype(np.int32)
        return columns._replace(user_id=Column([*users.values, FOLDED], codes))

    def _users_that_matter(self, account_id: str) -> frozenset[str]:
        held = self._relevant.get(account_id)
        if held is None:
            state = self.index.state(account_id) if account_id else None
            found = (frozenset() if state is None
                     else frozenset(state.user_scopes) | state.erased_users)
            held = self._relevant[account_id] = _EVERYONE if FOLDED in found else found
        return held


def _matters(relevant: frozenset[str], user: str) -> bool:
    return relevant is _EVERYONE or user in relevant
