"""The consent store's exceptions, each with a message a person can act on.

    MaytrainError                 (sidecar.core.errors)
     └── StoreError               the store failed or refused an operation
          ├── StoreUnavailableError  missing, unreadable, corrupt, locked or not migrated
          ├── ValidationError        a write refused before anything was written
          └── NotFoundError          the account or entry a write names does not exist
"""

from __future__ import annotations

from ..core.errors import MaytrainError


class StoreError(MaytrainError):
    """Base of every error the consent store raises on purpose."""


class StoreUnavailableError(StoreError):
    """The store cannot be used: missing, not a maytrain store, corrupt, busy or not migrated."""


class ValidationError(StoreError):
    """Bad write input; names the field (and the import line) and what to fix."""

    def __init__(self, field: str, problem: str, *, line: int | None = None) -> None:
        self.field, self.problem, self.line = field, problem, line
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{field}: {problem}" if field else f"{where}{problem}")

    def at_line(self, line: int) -> ValidationError:
        """The same error, located at a line of an import file."""
        return ValidationError(self.field, self.problem, line=line)


class NotFoundError(StoreError):
    """The account or consent entry a write names is not in the store."""
