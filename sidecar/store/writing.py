"""The write logic every backend shares: validate, check references, number, build rows.

A backend supplies `_begin_write(count)` (a transaction that owns `count` new versions)
and the row primitives of `WriteTransaction`; everything here is free of SQL. Every check
runs before the first row is written, and a failure rolls the transaction back, so a
refused write leaves the store and its version unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Self

from ..clock import Clock, wall_clock
from ..core.model import Change, ConsentEntry, Micros
from ..core.policy import Policy
from .errors import NotFoundError, ValidationError
from .protocol import WriteResult, WriteTransaction
from .references import check_references
from .requests import (
    AccountRequest,
    ConsentRequest,
    ErasureRequest,
    WriteRequest,
    check_id,
    check_request,
    check_time,
    normalize_region,
)
from .rows import build_row

WRITE_SLICE = 20_000


class WritingStore:
    """Mixin with the public write operations, on top of a backend's `_begin_write`."""

    def __init__(self, policy: Policy, clock: Clock | None = None) -> None:
        self.policy = policy  # what writes are validated against; the caller chooses it
        self._clock = clock or wall_clock

    def _begin_write(self, count: int) -> AbstractContextManager[WriteTransaction]:
        """Backends open a write transaction owning `count` new versions."""
        raise NotImplementedError

    def close(self) -> None:
        """Backends close their connection; the store is unusable afterwards."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_account(self, account_id: str, region: str = "", *, actor: str) -> WriteResult:
        """Add an account; refused when it exists or the region is malformed."""
        return self.write([AccountRequest(account_id, region)], actor=actor)

    def record_consent(self, request: ConsentRequest, *, actor: str) -> WriteResult:
        """Record a grant or an opt-out for a known account."""
        return self.write([request], actor=actor)

    def request_erasure(self, account_id: str, user_id: str = "", *,
                        actor: str) -> WriteResult:
        """Record an erasure: it binds from its version on."""
        return self.write([ErasureRequest(account_id, user_id)], actor=actor)

    def write(self, requests: Sequence[WriteRequest], *, actor: str,
              lines: Sequence[int] | None = None) -> WriteResult:
        """Write many requests all or nothing, one version each, in the given order."""
        if not requests:
            raise ValidationError("", "nothing to write")
        now = self._clock()
        checked = _checked(requests, self.policy, now, lines)
        with self._begin_write(len(checked)) as tx:
            check_references(tx, checked, lines)
            # Rows are built and inserted a slice at a time, so a bulk import never holds
            # every row in three forms at once.
            for start in range(0, len(checked), WRITE_SLICE):
                first = tx.first_version + start
                changes = [Change(first + i, build_row(request, first + i, now, actor))
                           for i, request in enumerate(checked[start:start + WRITE_SLICE])]
                tx.insert(changes, now, actor)
        return WriteResult(changes[-1].version, changes[-1].row, len(checked))

    def write_slices(self, count: int, slices: Iterable[tuple[Sequence[WriteRequest],
                                                             Sequence[int]]], *,
                     actor: str) -> WriteResult:
        """Write `count` requests that arrive a slice at a time (each with its lines), all or
        nothing, in one transaction: an import too large to hold is never held whole."""
        if count < 1:
            raise ValidationError("", "nothing to write")
        now, written = self._clock(), 0
        last: Change | None = None
        with self._begin_write(count) as tx:
            for requests, lines in slices:
                if written + len(requests) > count:
                    raise ValidationError("", "the import grew while it was written")
                # A slice is checked against the store as this transaction left it, so an
                # account added by an earlier slice is there for the entries that name it.
                checked = _checked(requests, self.policy, now, lines)
                check_references(tx, checked, lines)
                first = tx.first_version + written
                changes = [Change(first + i, build_row(request, first + i, now, actor))
                           for i, request in enumerate(checked)]
                tx.insert(changes, now, actor)
                written, last = written + len(changes), changes[-1] if changes else last
            if written != count or last is None:
                raise ValidationError("", "the import shrank while it was written")
        return WriteResult(last.version, last.row, written)

    def update_account(self, account_id: str, region: str, *, actor: str) -> WriteResult:
        """Change an account's home region ('' clears it)."""
        check_id("account", account_id)
        region = normalize_region(region, self.policy)
        now = self._clock()
        with self._begin_write(1) as tx:
            account = tx.account(account_id)
            if account is None:
                raise NotFoundError(f"account {account_id!r} is not in the store")
            change = Change(tx.first_version, replace(account, region=region))
            tx.update(change, now, actor)
        return WriteResult(change.version, change.row)

    def withdraw(self, entry_id: str, *, at: Micros | None = None,
                 actor: str) -> WriteResult:
        """End an entry at `at`, or, without a time, from this write's own version."""
        check_id("consent", entry_id)
        check_time("at", at)
        now = self._clock()
        with self._begin_write(1) as tx:
            entry = tx.consent(entry_id)
            if entry is None:
                raise NotFoundError(f"consent entry {entry_id!r} is not in the store")
            _check_withdrawable(entry, at)
            ended = (replace(entry, ended_version=tx.first_version) if at is None
                     else replace(entry, valid_until=at))
            change = Change(tx.first_version, ended)
            tx.update(change, now, actor)
        return WriteResult(change.version, change.row)


def _checked(requests: Sequence[WriteRequest], policy: Policy, now: Micros,
             lines: Sequence[int] | None) -> list[WriteRequest]:
    checked = []
    for i, request in enumerate(requests):
        try:
            checked.append(check_request(request, policy, now))
        except ValidationError as exc:
            raise (exc.at_line(lines[i]) if lines else exc) from None
    return checked


def _check_withdrawable(entry: ConsentEntry, at: Micros | None) -> None:
    if entry.ended_version is not None:
        raise ValidationError("consent", f"{entry.entry_id!r} was already withdrawn "
                                         f"at consent version {entry.ended_version}")
    if at is None:
        return
    if entry.valid_until is not None and at >= entry.valid_until:
        raise ValidationError("at", "the entry already ends at or before that time; "
                                    "a withdrawal can only end it earlier")
    if entry.valid_from is not None and at <= entry.valid_from:
        raise ValidationError("at", "is not after the entry's valid_from; withdraw without "
                                    "a time to end it from this write's version")

