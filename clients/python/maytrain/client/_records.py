"""Records as callers hold them — dicts, the Record dataclass, protobuf messages — and
their conversion to the wire message maytrain.v1.Record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from maytrain.v1 import consent_pb2 as pb

from ._errors import InvalidRecordError

FIELDS = ("record_id", "account_id", "user_id", "data_category", "purpose", "collected_at",
          "region", "derived_from")
_TEXT_FIELDS = ("account_id", "user_id", "data_category", "purpose", "region")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A time the sidecar refuses (year 10000): an unreadable collected_at becomes a
# DENIED_INVALID_RECORD decision, like any other malformed value, not an exception.
INVALID_TIME = Timestamp(seconds=253_402_300_800)


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One record to check: the fields of maytrain.v1.Record, all optional on the wire."""

    record_id: str = ""
    account_id: str = ""
    user_id: str = ""
    data_category: str = ""
    purpose: str = ""
    collected_at: datetime | str | None = None  # naive datetimes are taken as UTC
    region: str = ""
    derived_from: Sequence[str] = ()


RecordLike = Record | Mapping[str, Any] | pb.Record
"""What the client accepts as a record: keys of a dict that are not record fields are
ignored, so a record can carry its payload."""


def to_proto(value: RecordLike, default_purpose: str = "") -> pb.Record:
    """The wire record for `value`; a record without a purpose gets `default_purpose`."""
    if isinstance(value, pb.Record):
        return _with_purpose(value, default_purpose)
    if isinstance(value, Record):
        return from_fields({name: getattr(value, name) for name in FIELDS}, default_purpose)
    if isinstance(value, Mapping):
        return from_fields(value, default_purpose)
    raise InvalidRecordError("a record must be a dict, a maytrain.client.Record or a "
                             f"maytrain.v1.Record message, not {type(value).__name__}")


def from_fields(values: Mapping[str, Any], default_purpose: str = "") -> pb.Record:
    """The wire record for a mapping of field names to values (None means unset)."""
    kwargs: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = values.get(name)
        if value:
            kwargs[name] = _text(name, value)
    record_id = values.get("record_id")
    if record_id is not None and record_id != "":
        # Ids are opaque; integer ids are common in data sets and unambiguous as text.
        kwargs["record_id"] = str(record_id) if isinstance(record_id, int) else _text(
            "record_id", record_id)
    if not kwargs.get("purpose") and default_purpose:
        kwargs["purpose"] = default_purpose
    collected_at = values.get("collected_at")
    if collected_at is not None and collected_at != "":
        kwargs["collected_at"] = to_timestamp(collected_at)
    derived_from = values.get("derived_from")
    if derived_from:
        kwargs["derived_from"] = _categories(derived_from)
    return pb.Record(**kwargs)


def to_timestamp(value: datetime | str | Timestamp) -> Timestamp:
    """A wire timestamp for a datetime (naive = UTC) or an ISO 8601 string."""
    if isinstance(value, Timestamp):
        return value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return INVALID_TIME
    if not isinstance(value, datetime):
        raise InvalidRecordError("collected_at must be a datetime or an ISO 8601 string, "
                                 f"not {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return Timestamp(seconds=delta.days * 86_400 + delta.seconds, nanos=delta.microseconds * 1000)


def timestamp_from_micros(micros: int) -> Timestamp:
    """A wire timestamp for microseconds since the epoch (how Arrow holds times)."""
    seconds, rest = divmod(micros, 1_000_000)
    return Timestamp(seconds=seconds, nanos=rest * 1000)


def _with_purpose(message: pb.Record, default_purpose: str) -> pb.Record:
    """The message itself, or a copy with the default purpose (the caller's stays as is)."""
    if message.purpose or not default_purpose:
        return message
    copy = pb.Record()
    copy.CopyFrom(message)
    copy.purpose = default_purpose
    return copy


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidRecordError(f"{name} must be a string, not {type(value).__name__} {value!r}")
    return value


def _categories(value: Any) -> list[str]:
    """derived_from as a list of category keys; a lone string is almost surely a mistake."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidRecordError("derived_from must be a list of category keys, "
                                 f"not {type(value).__name__} {value!r}")
    return [_text("derived_from", item) for item in value]

