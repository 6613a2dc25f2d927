"""Opening SQLite files for the consent store, without ever creating one by accident.

A reader opens with mode=rw: a missing file is an error, not a new empty store. Only
`create=True` (maytrain store init) opens with mode=rwc.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from ..errors import StoreError, StoreUnavailableError

DEFAULT_BUSY_TIMEOUT = 5.0


def connect(path: Path, *, create: bool, busy_timeout: float) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), foreign keys on."""
    if not create and not path.is_file():
        raise StoreUnavailableError(f"no consent store at {path}: create one with "
                                    "`maytrain store init`")
    uri = f"file:{quote(str(path))}?mode={'rwc' if create else 'rw'}"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreUnavailableError(f"cannot open the consent store at {path}: {exc}") from None
    try:
        with sqlite_errors(path):
            conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def sqlite_errors(path: Path) -> Iterator[None]:
    """Turn sqlite3 errors into store errors with a message a person can act on."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise StoreError(f"the consent store at {path} refused a write: {exc}") from None
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise StoreUnavailableError(f"the consent store at {path} is busy: another "
                                        f"writer held it too long ({exc})") from None
        raise StoreUnavailableError(f"the consent store at {path} failed: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreUnavailableError(
            f"{path} is not a readable consent store ({exc}): restore it from a backup, "
            "or move it away and run `maytrain store init`") from None
    except sqlite3.Error as exc:
        raise StoreError(f"the consent store at {path} failed: {exc}") from None
