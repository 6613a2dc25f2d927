"""The consent store: the protocols every backend implements, its errors, and open_store().

Backends live in sub-packages (`sqlite`, the embedded default, and `postgres`) on top of
one SQL layer (`sql`); validation and the write logic that is not SQL are shared
(`requests`, `references`, `rows`, `writing`), and the JSON Lines import format is parsed
in `imports`.
"""

from .errors import NotFoundError, StoreError, StoreUnavailableError, ValidationError
from .protocol import (
    ConsentReader,
    ConsentStore,
    ConsentWriter,
    MigrationResult,
    PushingReader,
    Snapshot,
    WriteResult,
)
from .requests import AccountRequest, ConsentRequest, ErasureRequest, WriteRequest
from .urls import open_store, register_backend
from .writing import Clock, wall_clock

__all__ = [
    "AccountRequest", "Clock", "ConsentReader", "ConsentRequest", "ConsentStore",
    "ConsentWriter", "ErasureRequest", "MigrationResult", "NotFoundError", "PushingReader",
    "Snapshot", "StoreError", "StoreUnavailableError", "ValidationError", "WriteRequest",
    "WriteResult", "open_store", "register_backend", "wall_clock",
]
