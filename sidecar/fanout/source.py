"""What a sidecar follows: the store named by --store, or a relay's stream (--follow).

The runtime asks for a `Source` and hands its opener to the StoreFollower; nothing else in
the process needs to know which it is, except the label GetStatus shows and whether a
store is there to read history from (WatchChanges).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..clock import Clock
from ..settings import Settings
from ..snapshot_seal import read_key
from ..store.masking import mask_url
from ..store.protocol import ConsentReader
from .wire import Names


@dataclass(frozen=True)
class Source:
    """The followed source's label (credentials masked), its reader opener, and whether a
    store is known too."""

    label: str
    open_reader: Callable[[], ConsentReader]
    has_store: bool


def source_for(settings: Settings, clock: Clock,
               open_store: Callable[[], ConsentReader]) -> Source:
    """The store itself, or with `settings.follow` the relay's stream, falling back to the
    store for a snapshot when one is named."""
    if not settings.follow:
        return Source(mask_url(settings.store), open_store, True)
    from .reader import NatsReader

    url, names = settings.follow, Names(settings.stream)
    label = f"{mask_url(url)} stream {names.stream}"
    key = read_key(settings.snapshot_key_file)
    workdir = Path(settings.snapshot_file).parent if settings.snapshot_file else None
    fallback = open_store if settings.store else None

    def open_reader() -> ConsentReader:
        return NatsReader(url, names, label=label, clock=clock, key=key, workdir=workdir,
                          fallback=fallback)

    return Source(label, open_reader, bool(settings.store))
