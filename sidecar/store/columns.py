"""SQL column lists for the consent tables (the same in every SQL backend) and the
conversions between rows and tuples.

Absent optional values are NULL in the database and '' or None in the core's rows. The
change log holds the same values as the row's own table, under the same column names
(plus account_id for an account, and row_version for the row's own version).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.model import Account, ConsentEntry, Effect, Erasure, StoreRow

ACCOUNT_COLUMNS = "id, region, created, version"
ENTRY_COLUMNS = ("id, account_id, user_id, category, purpose, effect, valid_from, valid_until, "
                 "covers_data_from, evidence, recorded_at, recorded_by, version, ended_version")
ERASURE_COLUMNS = "id, account_id, user_id, requested_at, recorded_by, version"

TABLES = {"account": "accounts", "consent": "consent_entries", "erasure": "erasures"}
COLUMNS = {"account": ACCOUNT_COLUMNS, "consent": ENTRY_COLUMNS, "erasure": ERASURE_COLUMNS}
# The change-log columns that hold each kind's values, in the order of COLUMNS[kind]
# (an account's id is also its account_id).
CHANGE_COLUMNS = {
    "account": "id, region, created, row_version, account_id",
    "consent": ENTRY_COLUMNS.replace("version, ended_version", "row_version, ended_version"),
    "erasure": "id, account_id, user_id, requested_at, recorded_by, row_version",
}
FEED_COLUMNS = ("version, kind, id, account_id, user_id, region, created, category, purpose, "
                "effect, valid_from, valid_until, covers_data_from, evidence, recorded_at, "
                "recorded_by, row_version, ended_version, requested_at")


def _null(value: str) -> str | None:
    return value or None


def account_values(row: Account, version: int) -> tuple[Any, ...]:
    """An account as column values, written at `version`."""
    return (row.account_id, _null(row.region), row.created_at, version)


def entry_values(row: ConsentEntry, version: int = 0) -> tuple[Any, ...]:
    """A consent entry as column values (it carries its own version)."""
    return (row.entry_id, row.account_id, _null(row.user_id), row.category, row.purpose,
            row.effect.value, row.valid_from, row.valid_until, row.covers_data_from,
            row.evidence, row.recorded_at, row.recorded_by, row.version, row.ended_version)


def erasure_values(row: Erasure, version: int = 0) -> tuple[Any, ...]:
    """An erasure as column values (it carries its own version)."""
    return (row.erasure_id, row.account_id, _null(row.user_id), row.requested_at,
            row.recorded_by, row.version)


def account_from(values: tuple[Any, ...]) -> Account:
    """An account from column values."""
    account_id, region, created, _ = values
    return Account(account_id, region or "", created)


def entry_from(v: tuple[Any, ...]) -> ConsentEntry:
    """A consent entry from column values."""
    return ConsentEntry(
        entry_id=v[0], account_id=v[1], user_id=v[2] or "", category=v[3], purpose=v[4],
        effect=Effect(v[5]), valid_from=v[6], valid_until=v[7], covers_data_from=v[8],
        evidence=v[9], recorded_at=v[10], recorded_by=v[11], version=v[12],
        ended_version=v[13])


def erasure_from(v: tuple[Any, ...]) -> Erasure:
    """An erasure from column values."""
    return Erasure(v[0], v[1], v[2] or "", v[3], v[4], v[5])


def change_values(kind: str, values: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row's column values as its change-log values (an account also fills account_id)."""
    return values + (values[0],) if kind == "account" else values


def change_source(kind: str) -> str:
    """SELECT expressions that read a table row as its change-log values (see CHANGE_COLUMNS)."""
    return COLUMNS[kind] + (", id" if kind == "account" else "")


def row_from_feed(v: tuple[Any, ...]) -> StoreRow:
    """The row a change-log record (in FEED_COLUMNS order, version and kind first) holds."""
    kind = v[1]
    if kind == "account":
        return Account(v[2], v[5] or "", v[6])
    if kind == "erasure":
        return Erasure(v[2], v[3], v[4] or "", v[18], v[15], v[16])
    return entry_from((v[2], v[3], v[4], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14],
                       v[15], v[16], v[17]))


VALUES: dict[str, Callable[[Any, int], tuple[Any, ...]]] = {
    "account": account_values, "consent": entry_values, "erasure": erasure_values}
FROM: dict[str, Callable[[tuple[Any, ...]], Any]] = {
    "account": account_from, "consent": entry_from, "erasure": erasure_from}
