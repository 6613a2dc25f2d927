"""The consent tables' columns (the same in every SQL backend), and rows converted to and
from them by column name.

Absent optional values are NULL in the database and '' or None in the core's rows. The
change log holds the same values as the row's own table under the same column names,
except that the row's own version is `row_version` there (the log's `version` is the
change's), and an account's id is also its `account_id`.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ...core.model import Account, ConsentEntry, Effect, Erasure, Micros, StoreRow

Values = dict[str, Any]

TABLES = {"account": "accounts", "consent": "consent_entries", "erasure": "erasures"}
COLUMNS = {
    "account": ("id", "region", "created", "version"),
    "consent": ("id", "account_id", "user_id", "category", "purpose", "effect", "valid_from",
                "valid_until", "covers_data_from", "evidence", "recorded_at", "recorded_by",
                "version", "ended_version"),
    "erasure": ("id", "account_id", "user_id", "requested_at", "recorded_by", "version"),
}
# What every change-log record holds besides the changed row's values.
CHANGE_HEAD = ("version", "kind", "changed_at", "changed_by", "chain")
# (change-log column, table column): how each kind's values are logged.
LOGGED_AS = {kind: tuple(("row_version" if c == "version" else c, c) for c in columns)
             for kind, columns in COLUMNS.items()}
LOGGED_AS["account"] += (("account_id", "id"),)
CHANGE_COLUMNS = {kind: CHANGE_HEAD + tuple(logged for logged, _ in pairs)
                  for kind, pairs in LOGGED_AS.items()}
FEED_COLUMNS = ("version", "kind", "id", "account_id", "user_id", "region", "created",
                "category", "purpose", "effect", "valid_from", "valid_until",
                "covers_data_from", "evidence", "recorded_at", "recorded_by", "row_version",
                "ended_version", "requested_at")


def listed(columns: Iterable[str]) -> str:
    """Column names as an SQL list."""
    return ", ".join(columns)


@functools.cache
def picker(columns: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """What picks the values of `columns` (two or more), in that order, as parameters."""
    # itemgetter runs in C: a bulk import picks millions of values.
    return operator.itemgetter(*columns)


def params(values: Mapping[str, Any], columns: tuple[str, ...]) -> tuple[Any, ...]:
    """The values of `columns` (two or more), in that order (statement parameters)."""
    return picker(columns)(values)


def _null(value: str) -> str | None:
    return value or None


def account_values(row: Account, version: int) -> Values:
    """An account's columns, written at `version`."""
    return {"id": row.account_id, "region": _null(row.region), "created": row.created_at,
            "version": version}


def entry_values(row: ConsentEntry, version: int = 0) -> Values:
    """A consent entry's columns (it carries its own version)."""
    return {"id": row.entry_id, "account_id": row.account_id, "user_id": _null(row.user_id),
            "category": row.category, "purpose": row.purpose, "effect": row.effect.value,
            "valid_from": row.valid_from, "valid_until": row.valid_until,
            "covers_data_from": row.covers_data_from, "evidence": row.evidence,
            "recorded_at": row.recorded_at, "recorded_by": row.recorded_by,
            "version": row.version, "ended_version": row.ended_version}


def erasure_values(row: Erasure, version: int = 0) -> Values:
    """An erasure's columns (it carries its own version)."""
    return {"id": row.erasure_id, "account_id": row.account_id, "user_id": _null(row.user_id),
            "requested_at": row.requested_at, "recorded_by": row.recorded_by,
            "version": row.version}


def account_from(r: Mapping[str, Any], version: str = "version") -> Account:
    """An account from its columns (an account keeps no version of its own)."""
    return Account(account_id=r["id"], region=r["region"] or "", created_at=r["created"])


def entry_from(r: Mapping[str, Any], version: str = "version") -> ConsentEntry:
    """A consent entry from its columns; `version` names the column of its own version."""
    return ConsentEntry(
        entry_id=r["id"], account_id=r["account_id"], user_id=r["user_id"] or "",
        category=r["category"], purpose=r["purpose"], effect=Effect(r["effect"]),
        valid_from=r["valid_from"], valid_until=r["valid_until"],
        covers_data_from=r["covers_data_from"], evidence=r["evidence"],
        recorded_at=r["recorded_at"], recorded_by=r["recorded_by"], version=r[version],
        ended_version=r["ended_version"])


def erasure_from(r: Mapping[str, Any], version: str = "version") -> Erasure:
    """An erasure from its columns; `version` names the column of its own version."""
    return Erasure(erasure_id=r["id"], account_id=r["account_id"], user_id=r["user_id"] or "",
                   requested_at=r["requested_at"], recorded_by=r["recorded_by"],
                   version=r[version])


VALUES: dict[str, Callable[[Any, int], Values]] = {
    "account": account_values, "consent": entry_values, "erasure": erasure_values}
FROM: dict[str, Callable[..., Any]] = {
    "account": account_from, "consent": entry_from, "erasure": erasure_from}


def row_from_change(record: Mapping[str, Any]) -> StoreRow:
    """The row a change-log record (read by FEED_COLUMNS) holds."""
    return FROM[record["kind"]](record, version="row_version")


def change_record(kind: str, version: int, values: Mapping[str, Any], now: Micros,
                  actor: str, chain: str) -> Values:
    """The change-log record of a row of `kind` (its `values`) written at `version`."""
    record: Values = {"version": version, "kind": kind, "changed_at": now, "changed_by": actor,
                      "chain": chain}
    record.update((logged, values[column]) for logged, column in LOGGED_AS[kind])
    return record
