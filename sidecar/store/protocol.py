"""The consent store protocols every backend implements, and the values they return.

Callers depend on the capability they use: `ConsentReader` (the sync layer),
`PushingReader` (a reader that is told of writes), `ConsentWriter` (the write operations),
or `ConsentStore`: a reader and a writer, with the lookups, listings and migrations
the CLI needs.

Readers (the sync layer) need four things: `version()`, `snapshot()` (every row at one
consent version), `changes_since(version, limit)` (the numbered feed after a version) and
`chain_at(version)`. Versions are gap-free and commit in order, so a reader at version N
that asks for the changes after N can never miss one numbered <= N, and may page with any
limit. Writers get one consent version per changed row; a write of n rows takes n
consecutive versions in one transaction and returns the last.

Each change carries a chain: a hash over the chain before it and its own content
(`store.chain`). A snapshot carries the chain at its version, and `chain_at(N)` says
what the store's chain at N is now, so a reader that kept the chain of its version N sees
whether the store still has the history it followed: a store restored from a backup,
re-made or forked has another chain at N, or no version N at all.

A SQL store also keeps a packed base (`pack()`, `read_packed_base(out)`, `store.sql.
packed_base`): the compact index at one version, which a cold start reads instead of the
rows and then follows the feed from. It proves nothing by itself; the follower checks it.

A reader may also push changes: `PushingReader.wait_for_change(timeout)` is optional, and
the follower waits on it instead of sleeping between polls when the reader has it
(PostgreSQL does, through LISTEN/NOTIFY; SQLite does not).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..core.model import Account, Change, ConsentEntry, Erasure, Micros, StoreRow
from .requests import ConsentRequest, WriteRequest


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every row of the store at one consent version: accounts, then entries, then erasures."""

    version: int
    rows: tuple[StoreRow, ...]
    chain: str = ""  # the chain at `version`, read in the same transaction


@dataclass(frozen=True, slots=True)
class PackedBaseInfo:
    """What the store says of its packed base: the version it holds and the body's proof."""

    version: int
    chain: str
    layout: str
    parts: int
    body_bytes: int
    body_sha256: str
    latest_write: Micros | None
    packed_at: Micros
    seal: str = ""  # "hmac-sha256:HEX" over the header (header_payload) with a snapshot key


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The consent version a write committed at, and the last row it wrote."""

    version: int
    row: StoreRow
    count: int = 1

    @property
    def row_id(self) -> str:
        """The id of the row written (account id, consent entry id or erasure id)."""
        if isinstance(self.row, Account):
            return self.row.account_id
        return self.row.erasure_id if isinstance(self.row, Erasure) else self.row.entry_id


@dataclass(frozen=True, slots=True)
class MigrationResult:
    """What `migrate` did: the schema version before and after."""

    schema_before: int
    schema_after: int

    @property
    def changed(self) -> bool:
        """True when at least one migration ran."""
        return self.schema_after != self.schema_before


class WriteTransaction(Protocol):
    """One open write transaction, holding the versions it was allocated (backend side).

    The shared write logic runs on it; no caller of a store sees one.
    """

    first_version: int

    def existing_accounts(self, account_ids: Iterable[str]) -> set[str]:
        """The given account ids that the store already holds."""

    def existing_ids(self, kind: str, row_ids: Iterable[str]) -> set[str]:
        """The given consent or erasure ids that the store already holds."""

    def account(self, account_id: str) -> Account | None:
        """The account as it stands in this transaction."""

    def consent(self, entry_id: str) -> ConsentEntry | None:
        """The consent entry as it stands in this transaction."""

    def insert(self, changes: Sequence[Change], now: Micros, actor: str) -> None:
        """Insert new rows and log their changes; called once per slice of a large write."""

    def update(self, change: Change, now: Micros, actor: str) -> None:
        """Replace an existing row by id and append the change to the log."""


class ConsentReader(Protocol):
    """What the sync layer follows: the version, a snapshot, and the change feed."""

    url: str

    def version(self) -> int:
        """The latest committed consent version (0 for an empty store)."""

    def snapshot(self) -> Snapshot:
        """Every row at one consent version, read in one consistent transaction."""

    def changes_since(self, version: int, limit: int = 10_000) -> list[Change]:
        """Up to `limit` changes numbered above `version`, in version order, each with its
        chain; StoreError when the feed holds one numbered above the version counter."""

    def chain_at(self, version: int) -> str | None:
        """The store's chain at `version` (0: before any change), or None when the store's
        version is below it (the store went backwards)."""

    def close(self) -> None:
        """Release the connection."""


class HistoryReader(ConsentReader, Protocol):
    """An optional capability: a reader that can tell when each change was written and
    which grants run out when (the change feed of WatchChanges and purge plans)."""

    def changed_at(self, version: int) -> Micros | None:
        """When the change numbered `version` was written, or None when there is none."""

    def expiring(self, after: Micros, until: Micros) -> list[ConsentEntry]:
        """The standing grants whose valid_until is in (after, until], soonest first."""


class PushingReader(ConsentReader, Protocol):
    """An optional capability: a reader that is told when a write commits."""

    # wait_for_change blocks the calling thread on the reader's connection, so other
    # threads' reads wait until it returns: callers wait in short slices. A notification
    # is lost only with the connection, which then raises; polling remains the fallback.

    def wait_for_change(self, timeout: float) -> bool:
        """Wait up to `timeout` s for a committed write: True if pushed (or maybe missed)."""
        # True also on the first call, which starts listening (earlier writes were not
        # pushed); False after a quiet timeout; StoreUnavailableError on a lost connection.


class ConsentWriter(Protocol):
    """The write operations: each validates, then commits at new consent versions."""

    def add_account(self, account_id: str, region: str = "", *, actor: str) -> WriteResult:
        """Add an account; ValidationError when it exists or the region is malformed."""

    def update_account(self, account_id: str, region: str, *, actor: str) -> WriteResult:
        """Change an account's region; NotFoundError for an unknown account."""

    def record_consent(self, request: ConsentRequest, *, actor: str) -> WriteResult:
        """Record a grant or an opt-out."""

    def withdraw(self, entry_id: str, *, at: Micros | None = None,
                 actor: str) -> WriteResult:
        """End an entry at `at`, or from this write's version when no time is given."""

    def request_erasure(self, account_id: str, user_id: str = "", *,
                        actor: str) -> WriteResult:
        """Record an erasure of the account or of one of its users."""

    def write(self, requests: Sequence[WriteRequest], *, actor: str,
              lines: Sequence[int] | None = None) -> WriteResult:
        """Apply many add/grant/opt-out/erasure requests, all or nothing (imports)."""


class ConsentStore(ConsentReader, ConsentWriter, Protocol):
    """What every consent store backend offers (see sidecar.store.sqlite.SqliteStore)."""

    migration: MigrationResult | None
    """What opening with create=True did to the schema (None when opened without create)."""

    def migrate(self) -> MigrationResult:
        """Create or migrate the schema (only versioned, additive migrations)."""

    def account(self, account_id: str) -> Account | None:
        """One account, or None."""

    def consent(self, entry_id: str) -> ConsentEntry | None:
        """One consent entry, or None."""

    def erasure(self, erasure_id: str) -> Erasure | None:
        """One erasure, or None."""

    def consents(self, account_id: str, user_id: str | None = None) -> list[ConsentEntry]:
        """An account's entries, oldest first: every level (None), account level (''), a user's."""

    def erasures(self, account_id: str) -> list[Erasure]:
        """An account's erasures (account and user level), oldest first."""

    def pack(self, key: bytes | None = None) -> PackedBaseInfo:
        """Keep every account at the current version as the store's packed base (the one
        before it is replaced), sealed with the sidecars' snapshot `key` if given; its
        header."""

    def packed_base_info(self) -> PackedBaseInfo | None:
        """The header of the store's packed base, or None when none was packed."""

    def __enter__(self) -> ConsentStore:
        """Use as a context manager; closes on exit."""

    def __exit__(self, *exc: object) -> None:
        """Close the store."""
