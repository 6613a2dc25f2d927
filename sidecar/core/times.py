"""Conversions between timestamps and the core's integer microseconds. Never reads a clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .errors import InvalidValueError
from .model import Micros

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BEFORE_ALL_TIME: Micros = -(2**63)
"""Earlier than any time the core meets (timestamps are limited to years 1-9999)."""
AFTER_ALL_TIME: Micros = 2**63
"""Later than any time the core meets."""


def to_micros(moment: datetime) -> Micros:
    """Microseconds since the epoch for a zone-aware datetime."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidValueError(f"timestamp {moment.isoformat()} has no time zone")
    return (moment - _EPOCH) // timedelta(microseconds=1)


def from_micros(micros: Micros) -> datetime:
    """The UTC datetime for microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def parse_timestamp(text: str) -> Micros:
    """Parse ISO 8601 with a zone (`2026-01-31T12:00:00Z`); refuse a timestamp without one."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidValueError(
            f"'{text}' is not an ISO 8601 timestamp (expected e.g. 2026-01-31T12:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise InvalidValueError(
            f"timestamp '{text}' has no time zone (add Z or an offset like +02:00)"
        )
    return to_micros(moment)


def format_timestamp(micros: Micros) -> str:
    """ISO 8601 in UTC with a Z suffix, seconds precision unless finer is needed."""
    moment = from_micros(micros)
    spec = "seconds" if moment.microsecond == 0 else "microseconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")
