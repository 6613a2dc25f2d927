"""open_store(url): pick a backend by the URL's scheme and open (or create) the store.

`sqlite:///relative.db` and `sqlite:////absolute/path.db` open the embedded SQLite
store. Backends register an opener per scheme, so PostgreSQL can be added beside it.
"""

from __future__ import annotations

from typing import Any, Callable

from .errors import StoreError
from .protocol import ConsentStore

Opener = Callable[..., ConsentStore]
_OPENERS: dict[str, Opener] = {}


def register_backend(scheme: str, opener: Opener) -> None:
    """Let `open_store` open URLs `scheme://...` with `opener(url, create=..., **options)`."""
    _OPENERS[scheme] = opener


def open_store(url: str, *, create: bool = False, **options: Any) -> ConsentStore:
    """Open the store at `url`; only `create=True` may create or migrate one.

    Options (policy=, clock=, ...) go to the backend. A missing, foreign or corrupt store
    raises StoreUnavailableError; an unsupported URL raises StoreError.
    """
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in _OPENERS:
        known = ", ".join(f"{s}://" for s in sorted(_OPENERS))
        raise StoreError(f"unsupported store URL {url!r} (expected one of: {known}; "
                         "e.g. sqlite:///maytrain.db)")
    return _OPENERS[scheme](url, create=create, **options)


def _open_sqlite(url: str, *, create: bool = False, **options: Any) -> ConsentStore:
    from .sqlite import SqliteStore

    path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
    if not path or "?" in path or "#" in path:
        raise StoreError(f"bad SQLite store URL {url!r}: use sqlite:///relative.db or "
                         "sqlite:////absolute/path.db")
    return SqliteStore(path, create=create, **options)


register_backend("sqlite", _open_sqlite)
