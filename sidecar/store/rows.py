"""Store rows built from checked write requests: ids, times and versions filled in."""

from __future__ import annotations

import os

from ..core.model import Account, ConsentEntry, Effect, Erasure, Micros, StoreRow
from .requests import AccountRequest, ConsentRequest, ErasureRequest, WriteRequest

ACCOUNT, CONSENT, ERASURE = "account", "consent", "erasure"


def new_id(prefix: str, version: int) -> str:
    """A fresh id, e.g. `con_0000002a9c1b7e8d02f4`: the version (so ids of one store sort
    and index in write order) and 48 random bits (so ids from other stores do not clash)."""
    return f"{prefix}_{version:08x}{os.urandom(6).hex()}"


def build_row(request: WriteRequest, version: int, now: Micros, actor: str) -> StoreRow:
    """The row a checked request writes at `version`, recorded at `now` by `actor`."""
    if isinstance(request, AccountRequest):
        return Account(request.account_id, request.region, now)
    if isinstance(request, ErasureRequest):
        return Erasure(request.erasure_id or new_id("era", version), request.account_id,
                       request.user_id, now, actor, version)
    return _build_entry(request, version, now, actor)


def _build_entry(request: ConsentRequest, version: int, now: Micros, actor: str) -> ConsentEntry:
    # A grant without valid_from starts at the writer's clock (skew can only delay a
    # permission); an opt-out without one stays None: it binds from its version.
    valid_from = request.valid_from
    if valid_from is None and request.effect is Effect.GRANT:
        valid_from = now
    return ConsentEntry(
        entry_id=request.entry_id or new_id("con", version), account_id=request.account_id,
        category=request.category, purpose=request.purpose, effect=request.effect,
        user_id=request.user_id, valid_from=valid_from, valid_until=request.valid_until,
        covers_data_from=request.covers_data_from, evidence=request.evidence,
        recorded_at=now, recorded_by=actor, version=version)


def kind_of(row: StoreRow) -> str:
    """The change-log kind of a row: account, consent or erasure."""
    if isinstance(row, Account):
        return ACCOUNT
    return ERASURE if isinstance(row, Erasure) else CONSENT
