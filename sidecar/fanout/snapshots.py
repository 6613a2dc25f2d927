"""The relay's latest snapshot in the JetStream object store: the index file of one
version (`index_file`, format 3), described by its mark, put by the relay and mapped by
followers. A key (`--snapshot-key-file`) seals it as it seals a sidecar's own file; relay
and followers then need the same key, and a follower refuses a file it cannot prove.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from ..core.index import ConsentIndex
from ..core.model import Micros
from ..index_file import HEADER_PAGE, IndexFileError, map_index, write_index
from ..store.errors import StoreUnavailableError
from .link import NatsLink
from .wire import SNAPSHOT_OBJECT, Mark, Names

DOWNLOAD_SECONDS, DOWNLOAD_RATE = 10.0, 20e6  # a download's time: 10 s + 20 MB/s
UPLOAD_TIMEOUT = 600.0


def object_store(link: NatsLink, names: Names, *, create: bool = False):  # noqa: ANN201
    """The snapshot bucket (made when `create` and missing); StoreUnavailableError if absent."""
    from nats.js.errors import BucketNotFoundError

    try:
        return link.call(link.js.object_store(names.bucket))
    except BucketNotFoundError:
        if not create:
            raise StoreUnavailableError(f"NATS has no snapshot bucket {names.bucket!r} yet: "
                                        "is a relay running for this stream?") from None
    return link.call(link.js.create_object_store(names.bucket))


def latest_mark(link: NatsLink, names: Names) -> Mark | None:
    """The mark of the latest snapshot, or None when there is none."""
    from nats.js.errors import NotFoundError

    try:
        info = link.call(object_store(link, names).get_info(SNAPSHOT_OBJECT))
    except (NotFoundError, StoreUnavailableError):
        return None
    return Mark.decode(info.description)


def put_snapshot(link: NatsLink, names: Names, index: ConsentIndex, chain: str, store: str,
                 key: bytes | None, workdir: Path) -> Mark:
    """Upload `index` (with the store's chain at its version) as the latest snapshot."""
    from nats.js.api import ObjectMeta

    assert index.synced_at is not None
    mark = Mark(index.version, chain, index.synced_at, store)
    with tempfile.TemporaryDirectory(dir=workdir, prefix=".relay-") as directory:
        path = Path(directory) / "snapshot"
        write_index(path, index, store, key, chain)
        bucket = object_store(link, names, create=True)
        meta = ObjectMeta(name=SNAPSHOT_OBJECT, description=mark.encode().decode())
        with path.open("rb") as body:
            link.call(bucket.put(SNAPSHOT_OBJECT, body, meta=meta), UPLOAD_TIMEOUT)
    return mark


def get_snapshot(link: NatsLink, names: Names, *, now: Micros, key: bytes | None,
                 workdir: Path) -> tuple[ConsentIndex, Mark]:
    """The latest snapshot, mapped, and its mark; StoreUnavailableError when there is none
    or it cannot be proven."""
    from nats.js.errors import NotFoundError

    bucket = object_store(link, names)
    try:
        info = link.call(bucket.get_info(SNAPSHOT_OBJECT))
    except NotFoundError:
        raise StoreUnavailableError(f"no snapshot in {names.bucket!r} yet") from None
    mark = Mark.decode(info.description)
    with tempfile.NamedTemporaryFile(dir=workdir, prefix=".nats-snapshot-") as out:
        try:  # a download whose chunks a newer snapshot replaced waits for them forever
            link.call(bucket.get(SNAPSHOT_OBJECT, writeinto=out),
                      DOWNLOAD_SECONDS + (info.size or 0) / DOWNLOAD_RATE)
        except TimeoutError:
            raise StoreUnavailableError("the relay's snapshot did not arrive in time (it may "
                                        "have been replaced meanwhile)") from None
        out.flush()
        path = Path(out.name)
        try:
            # The file is mapped before it is unlinked: the map outlives the name.
            index, header = map_index(path, _store_named(path), now=now, key=key)
        except (IndexFileError, ValueError, KeyError) as exc:
            raise StoreUnavailableError(f"the relay's snapshot is refused: {exc}") from None
    if (header.version, header.chain) != (mark.version, mark.chain):
        raise StoreUnavailableError("the relay's snapshot is not the one its description says")
    return index, mark


def _store_named(path: Path) -> str:
    """The store a snapshot file says it was taken from (its seal proves it next)."""
    with path.open("rb") as handle:
        line = handle.read(HEADER_PAGE).partition(b"\n")[0]
    return str(json.loads(line)["header"]["store"])
