"""The spool's line format, one JSON object per answered call, and sampling.

A line holds what the call's decisions share once (time, rpc, consent and policy version,
the number of receipts) and the rest as parallel arrays, one entry per decision:

    {"time":"2026-03-15T14:23:01.123456Z","rpc":"CheckBatch","consent_version":14,
     "policy_version":"sha256:...","receipts":2,"record_id":["r1","r2"],
     "account":["acme","acme"],"user":["",""],"category":[...],"purpose":[...],
     "reason":["ALLOWED_BY_TERMS","DENIED_OPTED_OUT"]}

A columnar call (CheckColumns) writes a column whose values repeat as the values it is
drawn from and each receipt's code into them, as the request carried it:

    "account":{"values":["acme","beta"],"codes":"AAEBAA=="}

`codes` is base64 of one little-endian unsigned integer per receipt, 1 byte wide for up
to 256 values, 2 for up to 65,536, else 4. A list of strings costs a string object per
receipt to make and to join; codes cost a few bytes each, which is what lets receipts keep
up with a call that decides ten million records a second.

The verdict is the reason's (every reason has one), so a line does not repeat it;
`expand()` gives the receipts one by one with every field, verdict included, as
`maytrain receipts` prints them. Why not one object per decision in the file: formatting
shares the process's one interpreter lock with the checks, and a line per decision costs
several times the 10% of throughput receipts may take, while a column is one join in C.
"""

from __future__ import annotations

import base64
import binascii
import json
import operator
import random
import re
import zlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii as _quoted  # type: ignore[attr-defined]
from typing import Any, NamedTuple

import numpy as np

from ...core.model import Decision, Micros, Reason, Record
from ..observers import DecidedBatch

FIELDS = ("time", "rpc", "consent_version", "policy_version", "record_id", "account", "user",
          "category", "purpose", "verdict", "reason")
"""The keys of every receipt, in the order `expand` gives them."""
SHARED = FIELDS[:4]
COLUMNS = ("record_id", "account", "user", "category", "purpose", "reason")
"""The arrays of a spool line."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Record is a named tuple: an item getter is the cheapest way to a field of every record.
_RECORD_FIELDS = ("record_id", "account_id", "user_id", "data_category", "purpose")
_RECORD_COLUMNS = [operator.itemgetter(Record._fields.index(name)) for name in _RECORD_FIELDS]
_REASON = operator.attrgetter("reason")
VERDICTS = {reason.value: reason.verdict.value for reason in Reason}
_REASON_VALUES = [reason.value for reason in Reason]
# Printable ASCII but for the backslash and the quote: joined with '","', values made only
# of these need no escaping, which one pass shows: deleting them leaves only the
# separators' 2 * (n - 1) quotes.
_PLAIN = bytes(b for b in range(0x20, 0x7F) if b not in b'\\"')
_OPENINGS = [f',"{name}":["'.encode("ascii") for name in COLUMNS]
_CODED = [f',"{name}":{{"values":["'.encode("ascii") for name in COLUMNS]
# A line starts with its shared fields (see format_line): its count is read where it is,
# never by scanning the line's megabyte of arrays for it.
_COUNT = re.compile(rb'\{"time":"[^"]*","rpc":"(?:[^"\\]|\\.)*","consent_version":\d+,'
                    rb'"policy_version":"(?:[^"\\]|\\.)*","receipts":(\d+),"record_id":[\[{]')
_ALL = 1 << 32


class Receipts(NamedTuple):
    """The first `count` decisions of a batch, waiting to be written."""

    batch: DecidedBatch
    records: Sequence[Record]
    decisions: Sequence[Decision]
    count: int


def receipt_time(micros: Micros) -> str:
    """A receipt's time: UTC, fixed width, so that receipts' times sort as text."""
    return (_EPOCH + timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_line(receipts: Receipts) -> list[bytes]:
    """The receipts as one spool line, ending in a newline, in parts to be written as they
    are (joining them would copy the line once more, holding the interpreter lock)."""
    batch, count = receipts.batch, receipts.count
    parts = [f'{{"time":"{receipt_time(batch.now)}","rpc":{_quoted(batch.rpc)},'
             f'"consent_version":{int(batch.consent_version)},'
             f'"policy_version":{_quoted(batch.policy_version)},"receipts":{count}'
             .encode("ascii")]
    columns = _columns(receipts.records, receipts.decisions, count)
    for opening, coded, (column, distinct, codes) in zip(_OPENINGS, _CODED, columns,
                                                          strict=True):  # one at a time
        if codes is not None:
            parts += (coded, _joined(column, column), b'"],"codes":"',
                      _base64(codes, len(column)), b'"}')
        elif column:
            parts += (opening, _joined(column, distinct), b'"]')
        else:
            parts += (opening[:-1], b"]")
    parts.append(b"}\n")
    return parts


Distinct = Sequence[str] | None
"""The values a column is drawn from, when a columnar batch says (None: unknown)."""
Column = tuple[Sequence[str], Distinct, Any]
"""A receipt column: its values, what they are drawn from, and None; or the values it is
drawn from (twice) and each receipt's code into them."""


def _columns(records: Sequence[Record], decisions: Sequence[Decision],
             count: int) -> Iterator[Column]:
    """The receipt columns of the first `count` records, one at a time: each is joined
    before the next is gathered, while its values are still in the CPU's caches. A
    columnar batch (CheckColumns) offers its fields whole, as codes into their values
    (`field_codes`, `reason_codes`); records made one by one would cost a hundred times
    the call."""
    coded = getattr(records, "field_codes", None)
    if coded is not None:
        for name in _RECORD_FIELDS:
            values, codes = coded(name, count)  # codes None: the values are the records' own
            yield values, values, codes
    else:
        rows = records if count == len(records) else records[:count]
        for get in _RECORD_COLUMNS:
            yield list(map(get, rows)), None, None
    reasons = getattr(decisions, "reason_codes", None)
    if reasons is not None:
        values, codes = reasons(count)
        yield values, values, codes
    else:
        rows = decisions if count == len(decisions) else decisions[:count]
        yield list(map(_REASON, rows)), _REASON_VALUES, None


def _code_width(values: int) -> int:
    """Bytes a code into `values` values takes in a line."""
    return 1 if values <= 1 << 8 else 2 if values <= 1 << 16 else 4


def _base64(codes: Any, values: int) -> bytes:
    """Codes into `values` values as base64 of little-endian unsigned integers."""
    kind = f"<u{_code_width(values)}"
    return base64.b64encode(np.asarray(codes).astype(kind, copy=False).tobytes())


def _joined(column: Sequence[str], distinct: Distinct) -> bytes:
    """The column's values as the inside of a JSON array of strings. Checked for what JSON
    escapes in one pass over the joined text (a second would cost as much again, the values
    being cold in the cache), or over the distinct values when they are known and are not
    the column itself (a dictionary, or record ids that are all distinct)."""
    text = '","'.join(column)
    if distinct is not None and distinct is not column:
        if _plain_bytes('","'.join(distinct), len(distinct)) is not None:
            return text.encode("ascii")
    else:
        data = _plain_bytes(text, len(column))
        if data is not None:
            return data
    return '","'.join(_quoted(value)[1:-1] for value in column).encode("ascii")  # rare


def _plain_bytes(text: str, count: int) -> bytes | None:
    """`count` values joined with '","' as ASCII bytes, or None when a value holds a
    character JSON escapes (or anything but ASCII)."""
    if not text.isascii():  # O(1): CPython knows
        return None
    data = text.encode("ascii")
    return data if len(data.translate(None, _PLAIN)) == 2 * (count - 1) else None


def line_time(line: bytes) -> str:
    """YYYYmmddTHHMMSSZ of a line made by `format_line` (it starts with its time; its first
    part will do)."""
    stamp = line[9:28].decode("ascii")  # {"time":"2026-03-15T14:23:01
    return stamp.replace("-", "").replace(":", "") + "Z"


def count_receipts(line: bytes) -> int:
    """How many receipts a spool line holds (0 for a foreign line)."""
    match = _COUNT.match(line)
    return int(match[1]) if match else 0


def parse_line(line: str) -> dict[str, Any] | None:
    """A spool line's object, every column a list (codes decoded), or None for a torn or
    foreign line."""
    try:
        batch = json.loads(line)
    except ValueError:
        return None
    if not (isinstance(batch, dict) and isinstance(batch.get("receipts"), int)):
        return None
    for name in COLUMNS:
        column = _listed(batch.get(name), batch["receipts"])
        if column is None:
            return None
        batch[name] = column
    return batch


def _listed(column: Any, count: int) -> list[Any] | None:
    """A column as a list of `count` values, or None when it is neither a list of them nor
    values and codes that give them."""
    if isinstance(column, list):
        return column if len(column) == count else None
    if not isinstance(column, dict):
        return None
    values, codes = column.get("values"), column.get("codes")
    if not (isinstance(values, list) and values and isinstance(codes, str)):
        return None
    try:
        data = base64.b64decode(codes, validate=True)
    except (binascii.Error, ValueError):
        return None
    width = _code_width(len(values))
    if len(data) != count * width:
        return None
    indices = np.frombuffer(data, f"<u{width}")
    if count and int(indices.max()) >= len(values):
        return None
    return [values[i] for i in indices.tolist()]


def expand(batch: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The receipts of a parsed line, one object per decision, keys in FIELDS order."""
    shared = [(name, batch.get(name)) for name in SHARED]
    for values in zip(*(batch[name] for name in COLUMNS), strict=True):
        receipt = dict(shared + list(zip(COLUMNS[:-1], values, strict=False)))
        receipt["verdict"], receipt["reason"] = VERDICTS.get(values[-1], ""), values[-1]
        yield receipt


def sampled(records: Sequence[Record], decisions: Sequence[Decision],
            rate: float) -> tuple[Sequence[Record], Sequence[Decision]]:
    """The decisions whose records fall in the sample, with their records.

    The draw is a hash of the record id, so a record is in or out of the sample wherever
    and however often it is checked; a record without an id is drawn at random. A columnar
    batch (`record_ids`, `select`) is drawn once per distinct id and stays columnar.
    """
    if rate >= 1.0:
        return records, decisions
    threshold = int(rate * _ALL)
    ids = getattr(records, "record_ids", None)
    if ids is not None and hasattr(decisions, "select"):
        values, codes = ids()
        draws = np.fromiter(map(_draw, values), np.int64, len(values))[codes]
        unnamed = np.fromiter(map(operator.not_, values), np.bool_, len(values))[codes]
        draws[unnamed] = np.random.default_rng().integers(0, _ALL, int(unnamed.sum()))
        keep = draws < threshold
        return records.select(keep), decisions.select(keep)  # type: ignore[attr-defined]
    kept = [(record, decision) for record, decision in zip(records, decisions, strict=True)
            if _draw(record.record_id) < threshold]
    return [pair[0] for pair in kept], [pair[1] for pair in kept]


def _draw(record_id: str) -> int:
    """A number in [0, 2**32) fixed by the record id (random without one)."""
    if not record_id:
        return random.getrandbits(32)
    return zlib.crc32(record_id.encode("utf-8", "surrogatepass")) ^ 0x5BD1E995
