"""open_store(url): pick a backend by the URL's scheme and open (or create) the store.

`sqlite:///relative.db` and `sqlite:////absolute/path.db` open the embedded SQLite
store; `postgresql://user@host:5432/dbname` (or `postgres://`) a PostgreSQL store, in the
first schema of the connection's search_path (docs/postgres.md). Backends register an
opener per scheme.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.policy import Policy
from .errors import StoreError
from .masking import mask_url
from .protocol import ConsentStore

Opener = Callable[..., ConsentStore]
_OPENERS: dict[str, Opener] = {}


def register_backend(scheme: str, opener: Opener) -> None:
    """Let `open_store` open `scheme://...` URLs: `opener(url, policy=, create=, **options)`."""
    _OPENERS[scheme] = opener


def open_store(url: str, *, policy: Policy, create: bool = False,
               **options: Any) -> ConsentStore:
    """Open the store at `url`, validating writes against `policy`; only `create=True` may
    create or migrate one.

    Other options (clock=, ...) go to the backend. A missing, foreign or corrupt store
    raises StoreUnavailableError; an unsupported URL raises StoreError.
    """
    return opener_for(url)(url, policy=policy, create=create, **options)


def opener_for(url: str) -> Opener:
    """The backend opener for the URL's scheme; StoreError (URL masked) when none is known."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in _OPENERS:
        known = ", ".join(f"{s}://" for s in sorted(_OPENERS))
        raise StoreError(f"unsupported store URL {mask_url(url)!r} (expected one of: "
                         f"{known}; e.g. sqlite:///maytrain.db)")
    return _OPENERS[scheme]


def _open_sqlite(url: str, **options: Any) -> ConsentStore:
    from .sqlite import SqliteStore

    path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
    if not path or "?" in path or "#" in path:
        raise StoreError(f"bad SQLite store URL {url!r}: use sqlite:///relative.db or "
                         "sqlite:////absolute/path.db")
    options.pop("password_file", None)  # a file store has no password
    return SqliteStore(path, **options)


def _open_postgres(url: str, **options: Any) -> ConsentStore:
    try:
        from .postgres import PostgresStore
    except ImportError as exc:
        raise StoreError(f"PostgreSQL stores need psycopg 3 ({exc}): install "
                         "psycopg[binary]") from None
    return PostgresStore(url, **options)


register_backend("sqlite", _open_sqlite)
register_backend("postgresql", _open_postgres)
register_backend("postgres", _open_postgres)
