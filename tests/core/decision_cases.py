"""Loads the hand-written decision cases under cases/ into policies, indexes and records."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sidecar.core import (
    Account,
    ConsentEntry,
    ConsentIndex,
    Effect,
    Erasure,
    Policy,
    Reason,
    Record,
    parse_policy,
)
from sidecar.core.times import to_micros
from sidecar.policy_files import load_policy

CASES = Path(__file__).parent / "cases"
SECOND = 1_000_000


@dataclass(frozen=True)
class Case:
    """One hand-written case: the inputs of decide() and the reason DESIGN.md gives."""

    file: str
    name: str
    rule: int
    record: Record
    expect: Reason
    policy: Policy
    index: ConsentIndex | None
    now: int
    min_version: int

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"


def micros(value: Any) -> int | None:
    return to_micros(value) if isinstance(value, datetime) else None


def load_case_policy(name: str | None) -> Policy:
    if not name:
        return load_policy()
    path = CASES / "policies" / name
    return parse_policy(path.read_text("utf-8"), str(path))


def rows_of(data: dict[str, Any]) -> list:
    rows: list = [Account(a["id"], a.get("region", "")) for a in data.get("accounts", [])]
    rows += [entry_of(e) for e in data.get("entries", [])]
    rows += [Erasure(f"erasure-{i}", e["account"], e.get("user", ""))
             for i, e in enumerate(data.get("erasures", []))]
    return rows


def entry_of(e: dict[str, Any]) -> ConsentEntry:
    return ConsentEntry(
        entry_id=e["id"], account_id=e["account"], user_id=e.get("user", ""),
        category=e["category"], purpose=e["purpose"], effect=Effect(e["effect"]),
        valid_from=micros(e.get("valid_from")), valid_until=micros(e.get("valid_until")),
        covers_data_from=micros(e.get("covers_data_from")),
        ended_version=1 if e.get("ended") else None)


def record_of(r: dict[str, Any]) -> Record:
    return Record(account_id=r.get("account", ""), user_id=r.get("user", ""),
                  data_category=r.get("category", ""), purpose=r.get("purpose", ""),
                  collected_at=micros(r.get("collected_at")), region=r.get("region", ""),
                  derived_from=tuple(r.get("derived_from", ())))


def load_file(path: Path) -> list[Case]:
    data = tomllib.loads(path.read_text("utf-8"))
    policy = load_case_policy(data.get("policy"))
    now = to_micros(data["now"])
    rows = rows_of(data)
    version = data.get("version", 10)
    cases = []
    for c in data["cases"]:
        synced = now - c.get("synced_seconds_ago", 1) * SECOND
        index = None if c.get("cache") == "empty" else ConsentIndex.build(version, rows, synced)
        cases.append(Case(path.name, c["name"], c["rule"], record_of(c["record"]),
                          Reason[c["expect"]], policy, index, now, c.get("min_version", 0)))
    return cases


def all_cases() -> list[Case]:
    return [case for path in sorted(CASES.glob("*.toml")) for case in load_file(path)]
