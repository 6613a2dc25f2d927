"""Reference checks for a batch of write requests, run inside the write transaction.

An account must exist, or be added on an earlier line of the same batch, before an entry
or erasure names it; an added account and an explicit id must be new. The earliest
problem (by position) is raised, so an import error names the first bad line.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import ValidationError
from .protocol import WriteTransaction
from .requests import AccountRequest, ConsentRequest, WriteRequest
from .rows import CONSENT, ERASURE


class _Batch:
    """What a batch adds and names, by the position of its first mention."""

    def __init__(self) -> None:
        self.added: dict[str, int] = {}
        self.needed: dict[str, int] = {}
        self.ids: dict[str, dict[str, int]] = {CONSENT: {}, ERASURE: {}}
        self.problems: list[tuple[int, str, str]] = []

    def scan(self, requests: Sequence[WriteRequest]) -> None:
        for i, request in enumerate(requests):
            if isinstance(request, AccountRequest):
                self._add(i, request.account_id)
                continue
            if request.account_id not in self.added:
                self.needed.setdefault(request.account_id, i)
            kind = CONSENT if isinstance(request, ConsentRequest) else ERASURE
            row_id = request.entry_id if kind == CONSENT else request.erasure_id
            if row_id:
                self._name(i, kind, row_id)

    def _add(self, i: int, account_id: str) -> None:
        if account_id in self.added:
            self.problems.append((i, "account", f"{account_id!r} is added twice"))
        else:
            self.added[account_id] = i

    def _name(self, i: int, kind: str, row_id: str) -> None:
        if row_id in self.ids[kind]:
            self.problems.append((i, "id", f"{row_id!r} is used twice"))
        else:
            self.ids[kind][row_id] = i


def check_references(tx: WriteTransaction, requests: Sequence[WriteRequest],
                     lines: Sequence[int] | None = None) -> None:
    """Raise ValidationError for the first request that names what is not there, or is there."""
    batch = _Batch()
    batch.scan(requests)
    existing = tx.existing_accounts(set(batch.added) | set(batch.needed))
    for account_id, i in batch.added.items():
        if account_id in existing:
            batch.problems.append((i, "account", f"{account_id!r} already exists"))
    missing = ("is not in the store (nor added on an earlier line)" if lines
               else "is not in the store; add the account first")
    for account_id, i in batch.needed.items():
        if account_id not in existing:
            batch.problems.append((i, "account", f"{account_id!r} {missing}"))
    for kind, ids in batch.ids.items():
        for row_id in tx.existing_ids(kind, ids):
            batch.problems.append((ids[row_id], "id", f"{kind} {row_id!r} already exists"))
    if batch.problems:
        i, field, problem = min(batch.problems)
        raise ValidationError(field, problem, line=lines[i] if lines else None)
