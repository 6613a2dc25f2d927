"""What the relay puts on NATS, and how it is read back: names, change messages, marks.

One stream per store (`maytrain-changes` by default) holds one message per consent version
on `<stream>.change`: the change's canonical bytes (`store.chain.canonical`, which hold
every field of its row), `Nats-Msg-Id` the version, `Maytrain-Chain` its chain. The stream's
sequence numbers run in step with the versions (the relay publishes each version expecting
the sequence before it), so `version - sequence` is the same for every message of one history.
The object store `<stream>-snapshot` keeps `latest`, the index file (`index_file`) of one
version, described by a mark. Heartbeats are marks too, on the plain subject
`<stream>.heartbeat`: a mark says that the store stood at `version`, chained `chain`, when
the relay last read it (`synced_at`, the relay's wall clock).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..core.model import Account, Change, ConsentEntry, Effect, Erasure, Micros, StoreRow
from ..store.chain import FIELDS, canonical
from ..store.rows import ACCOUNT, CONSENT, ERASURE

DEFAULT_STREAM = "maytrain-changes"
CHAIN_HEADER = "Maytrain-Chain"
MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST = "Nats-Expected-Last-Sequence"
SNAPSHOT_OBJECT = "latest"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_KINDS: dict[str, type] = {ACCOUNT: Account, CONSENT: ConsentEntry, ERASURE: Erasure}


class WireError(ValueError):
    """A message on the stream that is not a maytrain change or mark."""


@dataclass(frozen=True)
class Names:
    """Where one store's changes live on NATS."""

    stream: str = DEFAULT_STREAM

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.stream):
            raise ValueError(f"stream name {self.stream!r}: use letters, digits, - and _")

    @property
    def changes(self) -> str:
        return f"{self.stream}.change"

    @property
    def heartbeat(self) -> str:
        return f"{self.stream}.heartbeat"

    @property
    def bucket(self) -> str:
        return f"{self.stream}-snapshot"


@dataclass(frozen=True)
class Mark:
    """The store stood at `version` (chained `chain`) when the relay read it at `synced_at`."""

    version: int
    chain: str
    synced_at: Micros
    store: str = ""

    def encode(self) -> bytes:
        return json.dumps({"version": self.version, "chain": self.chain,
                           "synced_at": self.synced_at, "store": self.store}).encode()

    @classmethod
    def decode(cls, data: bytes | str | None) -> Mark:
        try:
            fields = json.loads(data or b"")
            mark = cls(int(fields["version"]), str(fields["chain"]), int(fields["synced_at"]),
                       str(fields.get("store", "")))
        except (ValueError, KeyError, TypeError) as exc:
            raise WireError(f"not a maytrain mark: {exc}") from None
        return mark


def change_message(change: Change) -> tuple[bytes, dict[str, str]]:
    """The payload and headers of the message for `change` (without the expected sequence)."""
    return canonical(change.version, change.row), {MSG_ID: str(change.version),
                                                   CHAIN_HEADER: change.chain}


def change_of(data: bytes, headers: dict[str, str] | None) -> Change:
    """The change a message carries, with its chain; WireError when it carries none."""
    try:
        version, kind, names, values = json.loads(data)
        row = _row(kind, names, values)
        chain = (headers or {})[CHAIN_HEADER]
    except (ValueError, KeyError, TypeError) as exc:
        raise WireError(f"not a maytrain change: {exc!r}") from None
    if not isinstance(version, int) or canonical(version, row) != data:
        raise WireError("a change whose bytes are not its canonical form")
    return Change(version, row, chain)


def _row(kind: str, names: list[str], values: list[Any]) -> StoreRow:
    cls = _KINDS[kind]
    if tuple(names) != FIELDS[cls]:
        raise KeyError(f"fields {names}")
    fields = dict(zip(names, values, strict=True))
    if cls is ConsentEntry:
        fields["effect"] = Effect(fields["effect"])
    row: StoreRow = cls(**fields)
    return row
