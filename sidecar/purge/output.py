"""What a plan writes, however its manifests were read: one JSON line per record to purge,
counted by reason and by account, in a file moved into place only once every manifest has
been read (`PlanOutput`), so a plan that fails leaves nothing behind: never a partial plan
that reads as a complete one. No pyarrow."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any

ALLOWING_REASONS = ("ALLOWED_BY_TERMS", "ALLOWED_BY_CONSENT")
"""The reasons of a record that was allowed when it was taken (with verdict ALLOW)."""
PLAN_FIELDS = ("record_id", "account_id", "user_id", "data_category", "purpose")


@dataclass
class PlanCounts:
    """What a plan saw: entries read, those allowed when taken, those re-decided (all of
    those, or those of changed accounts), and those to purge by reason and by account."""

    records: int = 0
    allowed_when_taken: int = 0
    redecided: int = 0
    to_purge: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    by_account: Counter[str] = field(default_factory=Counter)
    other_policy: int = 0  # re-decided records taken under another policy version


def plan_line(row: tuple[Any, ...]) -> str:
    """The plan's line for (the PLAN_FIELDS, was_reason, was_version, reason, version)."""
    record_id, account, user, category, purpose, was_reason, was_version, reason, version = row
    return json.dumps({"record_id": record_id, "account_id": account, "user_id": user or "",
                       "data_category": category, "purpose": purpose, "was_reason": was_reason,
                       "was_version": was_version, "reason": reason,
                       "consent_version": version}, separators=(",", ":")) + "\n"


class PlanOutput:
    """The plan's file while it is written: moved to `destination` (or copied to stdout,
    for None) by `publish()`, removed by `discard()`."""

    def __init__(self, destination: str | None) -> None:
        self.destination = destination
        folder = os.path.dirname(os.path.abspath(destination)) if destination else None
        prefix = f".{os.path.basename(destination)}." if destination else "maytrain-plan."
        handle, self._path = tempfile.mkstemp(prefix=prefix, suffix=".partial", dir=folder)
        self.file: IO[str] = os.fdopen(handle, "w", encoding="utf-8")

    def publish(self) -> None:
        """The plan is complete: put it where it was asked for."""
        self.file.close()
        if self.destination is None:
            with open(self._path, encoding="utf-8") as plan:
                shutil.copyfileobj(plan, sys.stdout)
            sys.stdout.flush()
            os.unlink(self._path)
        else:
            os.replace(self._path, self.destination)

    def discard(self) -> None:
        """The plan failed: leave nothing of it."""
        self.file.close()
        if os.path.exists(self._path):
            os.unlink(self._path)
