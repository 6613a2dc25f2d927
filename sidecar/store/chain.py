"""The hash chain over the change feed: chain(v) = sha256(chain(previous) || canonical(v)).

The chain of a store with no changes is `genesis(store_id)`, from a random id made when
the store was created, so two stores with the same changes still differ. A change's
canonical form is JSON (no spaces, ASCII only) of `[version, kind, [names], [values]]`:
its row's fields, named, in the order of FIELDS (two arrays encode faster than one object,
and a bulk import chains a million rows). The writer, the migration that chains an older
store's log, and the follower that checks what it reads all hash through here.

FIELDS is frozen: renaming or adding a row field changes no chain until it is listed here,
and listing it means a new chain format (`maytrain-chain/2`), since old chains would no
longer verify.
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..core.model import Account, Change, ConsentEntry, Effect, Erasure, StoreRow
from .rows import kind_of

FORMAT = "maytrain-chain/1"
FIELDS: dict[type, tuple[str, ...]] = {
    Account: ("account_id", "region", "created_at"),
    ConsentEntry: ("entry_id", "account_id", "category", "purpose", "effect", "user_id",
                   "valid_from", "valid_until", "covers_data_from", "evidence", "recorded_at",
                   "recorded_by", "version", "ended_version"),
    Erasure: ("erasure_id", "account_id", "user_id", "requested_at", "recorded_by", "version"),
}
_PICK = {cls: operator.attrgetter(*names) for cls, names in FIELDS.items()}
_EFFECT = FIELDS[ConsentEntry].index("effect")


def _json_encoder() -> Callable[[Any], str]:
    # json.dumps builds a new encoder per call, which costs more than the encoding itself
    # when a bulk import chains a million rows; the C encoder is made once.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the C accelerator: the same text, slower
        return json.JSONEncoder(separators=(",", ":"), default=_effect_value).encode
    encode = make(None, _effect_value, json.encoder.encode_basestring_ascii, None, ":", ",",
                  False, False, True)
    return lambda value: "".join(encode(value, 0))


def _effect_value(value: object) -> str:
    if isinstance(value, Effect):
        return value.value
    raise TypeError(f"a {type(value).__name__} has no canonical form")


_encode = _json_encoder()


def genesis(store_id: str) -> str:
    """The chain of a store before its first change."""
    return hashlib.sha256(f"{FORMAT}{store_id}".encode()).hexdigest()


def _heads() -> dict[type, str]:
    """Per row type, the canonical form's text before the version's values."""
    samples: dict[type, StoreRow] = {
        Account: Account(""), ConsentEntry: ConsentEntry("", "", "", "", Effect.GRANT),
        Erasure: Erasure("", "")}
    return {cls: f"{_encode(kind_of(sample))},{_encode(list(FIELDS[cls]))},"
            for cls, sample in samples.items()}


_HEADS = _heads()


def canonical(version: int, row: StoreRow) -> bytes:
    """The bytes of a change that its chain covers."""
    cls = type(row)
    values = list(_PICK[cls](row))
    if cls is ConsentEntry:
        values[_EFFECT] = values[_EFFECT]._value_  # no descriptor, nor the encoder's hook
    return f"[{version:d},{_HEADS[cls]}{_encode(values)}]".encode("ascii")


def next_chain(previous: str, version: int, row: StoreRow) -> str:
    """The chain of the change at `version` writing `row`, after a change chained `previous`."""
    return hashlib.sha256(previous.encode("utf-8") + canonical(version, row)).hexdigest()


def chain_of(previous: str, change: Change) -> str:
    """The chain `change` should carry if it follows a change chained `previous`."""
    return next_chain(previous, change.version, change.row)


def chained(previous: str, changes: Iterable[Change]) -> Iterator[Change]:
    """The changes (in version order) each with its chain filled in, starting after `previous`."""
    for change in changes:
        previous = chain_of(previous, change)
        yield Change(change.version, change.row, previous)
