"""What makes one manifest entry unreadable: the slow, exact check that names the problem
(run only where the fast reader failed, and on each manifest's first line)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from maytrain.client._lineage import MANIFEST_FIELDS

REQUIRED = MANIFEST_FIELDS[:-1]
"""Fields every entry must have (policy_version is only reported)."""


class ManifestError(ValueError):
    """A manifest that cannot be read; the message names the file (and line)."""


_TEXT = ("record_id", "account_id", "user_id", "data_category", "purpose", "region",
         "verdict", "reason", "policy_version")


def line_problem(line: bytes) -> str:
    """Why a manifest line is not an entry ('' when it is one)."""
    return parse_entry(line)[1]


def parse_entry(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """The entry on a manifest line, or None and why it is not one."""
    try:
        entry = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"not JSON: {exc}"
    if not isinstance(entry, dict):
        return None, f"not a JSON object but {type(entry).__name__}"
    missing = [name for name in REQUIRED if name not in entry]
    if missing:
        return None, (f"no {', '.join(missing)}: not a manifest entry that can be re-decided "
                      "(one written by an older client?)")
    problem = entry_problem(entry)
    return (None, problem) if problem else (entry, "")


def entry_problem(entry: dict[str, Any], only: str | None = None) -> str:
    """Why an entry's values cannot be read ('' when they can); `only` checks one field."""
    for name in (only,) if only else MANIFEST_FIELDS:
        problem = _value_problem(name, entry.get(name))
        if problem:
            return f"{name} {problem}"
    return ""


def _value_problem(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name in _TEXT:
        return "" if isinstance(value, str) else f"must be a string, not {_kind(value)}"
    if name == "derived_from":
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return ""
        return "must be a list of category keys"
    if name == "consent_version":
        good = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return "" if good else f"must be a whole number, not {value!r}"
    if name == "collected_at":
        return _time_problem(value)
    return ""


def _time_problem(value: Any) -> str:
    if not isinstance(value, str):
        return f"must be ISO 8601 text or null, not {_kind(value)}"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return f"is not an ISO 8601 time: {value!r}"
    if moment.tzinfo is None:
        return f"has no zone (Z or an offset): {value!r}"
    return ""


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
