"""A decided batch as receipt lines (JSON Lines, one object per decision), and sampling.

Formatting runs on the writer thread, for every receipt, so it stays in C as far as it can:
each field is escaped by the json module's C escaper and the line is filled in from a
template made once per batch (the fields shared by a batch: time, rpc, versions).
"""

from __future__ import annotations

import json
import operator
import random
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from json.encoder import encode_basestring_ascii as _quoted  # type: ignore[attr-defined]

from ..core.model import Decision, Micros, Reason, Record

FIELDS = ("time", "rpc", "consent_version", "policy_version", "record_id", "account", "user",
          "category", "purpose", "verdict", "reason")
"""The keys of every receipt, in the order they are written."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OUTCOME = {reason: f'"verdict":"{reason.verdict}","reason":"{reason}"' for reason in Reason}
_RECORD_FIELDS = [operator.attrgetter(name) for name in
                  ("record_id", "account_id", "user_id", "data_category", "purpose")]
_REASON = operator.attrgetter("reason")
_ALL = 1 << 32


def receipt_time(micros: Micros) -> str:
    """A receipt's time: UTC, fixed width, so that receipts' times sort as text."""
    return (_EPOCH + timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_lines(rpc: str, now: Micros, consent_version: int, policy_version: str,
                 records: Sequence[Record], decisions: Sequence[Decision], count: int) -> str:
    """The first `count` decisions of a batch as receipt lines, each ending in a newline."""
    head = (f'{{"time":"{receipt_time(now)}","rpc":{_quoted(rpc)},'
            f'"consent_version":{int(consent_version)},"policy_version":{_quoted(policy_version)},')
    template = (head.replace("%", "%%") + '"record_id":%s,"account":%s,"user":%s,'
                '"category":%s,"purpose":%s,%s}\n')
    columns = [map(_quoted, map(get, islice(records, count))) for get in _RECORD_FIELDS]
    outcomes = map(_OUTCOME.__getitem__, map(_REASON, islice(decisions, count)))
    return "".join(map(template.__mod__, zip(*columns, outcomes, strict=True)))


def parse_line(line: str) -> dict | None:
    """One receipt from a line of the spool, or None for a torn or foreign line."""
    try:
        receipt = json.loads(line)
    except ValueError:
        return None
    return receipt if isinstance(receipt, dict) and "reason" in receipt else None


def sampled(records: Sequence[Record], decisions: Sequence[Decision],
            rate: float) -> tuple[Sequence[Record], Sequence[Decision]]:
    """The decisions whose records fall in the sample, with their records.

    The draw is a hash of the record id, so a record is in or out of the sample wherever
    and however often it is checked; a record without an id is drawn at random.
    """
    if rate >= 1.0:
        return records, decisions
    threshold = int(rate * _ALL)
    kept = [(record, decision) for record, decision in zip(records, decisions, strict=True)
            if _draw(record.record_id) < threshold]
    return [pair[0] for pair in kept], [pair[1] for pair in kept]


def _draw(record_id: str) -> int:
    """A number in [0, 2**32) fixed by the record id (random without one)."""
    if not record_id:
        return random.getrandbits(32)
    return zlib.crc32(record_id.encode("utf-8", "surrogatepass")) ^ 0x5BD1E995
