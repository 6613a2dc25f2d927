"""Helpers for the relay and NATS follower tests: a store in memory, relays and followers
run on threads until the test ends, waiting, and the decision cases of tests/core."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sidecar.core.model import Change, StoreRow
from sidecar.fanout.reader import NatsReader
from sidecar.fanout.relay import Relay, RelayOptions
from sidecar.fanout.wire import Names
from sidecar.store.chain import chained, genesis
from sidecar.store.protocol import Snapshot
from sidecar.sync import StoreFollower

FAST = RelayOptions(heartbeat=0.2, sync_interval=0.05, snapshot_changes=1_000_000,
                    snapshot_seconds=3600)


class MemoryStore:
    """A consent store in memory: rows become chained changes, one version each."""

    url = "memory://test"

    def __init__(self, rows: Sequence[StoreRow] = ()) -> None:
        self.changes: list[Change] = []
        self.store_id = "memory"
        self.add(rows)

    def add(self, rows: Sequence[StoreRow]) -> int:
        last = self.changes[-1].chain if self.changes else genesis(self.store_id)
        start = len(self.changes)
        self.changes += chained(last, [Change(start + i + 1, r) for i, r in enumerate(rows)])
        return len(self.changes)

    def reader(self) -> MemoryReader:
        return MemoryReader(self)


class MemoryReader:
    """A ConsentReader on a MemoryStore."""

    def __init__(self, store: MemoryStore) -> None:
        self.store, self.url = store, store.url

    def version(self) -> int:
        return len(self.store.changes)

    def snapshot(self) -> Snapshot:
        changes = list(self.store.changes)
        return Snapshot(len(changes), tuple(_latest_rows(changes)),
                        changes[-1].chain if changes else genesis(self.store.store_id))

    def changes_since(self, version: int, limit: int = 10_000) -> list[Change]:
        return list(self.store.changes[version:version + limit])

    def chain_at(self, version: int) -> str | None:
        if version > len(self.store.changes):
            return None
        return self.store.changes[version - 1].chain if version else genesis(self.store.store_id)

    def close(self) -> None:
        pass


def _latest_rows(changes: list[Change]) -> list[StoreRow]:
    latest: dict[tuple[type, str], StoreRow] = {}
    for change in changes:
        row = change.row
        key = getattr(row, "entry_id", None) or getattr(row, "erasure_id", None) \
            or row.account_id
        latest[(type(row), key)] = row
    return list(latest.values())


class Running:
    """Relays and followers started on threads; all stopped when the test ends."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._stops: list[tuple[threading.Event, threading.Thread, Callable[[], None]]] = []

    def relay(self, open_reader: Callable, url: str, names: Names,
              options: RelayOptions = FAST, **kw) -> Relay:
        relay = Relay(open_reader, url, names, store="memory", options=options,
                      workdir=self.workdir, **kw)
        self._start(relay.run, lambda: None, "relay")
        return relay

    def follower(self, url: str, names: Names, **kw) -> StoreFollower:
        follower = StoreFollower(lambda: NatsReader(url, names, label="nats", **kw))
        self._start(lambda stop: follower.follow(stop, 1.0, heartbeat=0.2), follower.close,
                    "follower")
        return follower

    def _start(self, target: Callable, after: Callable[[], None], name: str) -> None:
        stop = threading.Event()
        thread = threading.Thread(target=target, args=(stop,), name=f"test-{name}", daemon=True)
        thread.start()
        self._stops.append((stop, thread, after))

    def stop(self, what: object | None = None) -> None:
        for stop, thread, after in self._stops:
            stop.set()
            thread.join(timeout=15)
            after()
        self._stops.clear()


def wait_for(condition: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.01)


def decision_cases():  # noqa: ANN201
    """tests/core/decision_cases.py, the loader of the decision case files."""
    loaded = sys.modules.get("decision_cases")
    if loaded is None:
        path = Path(__file__).parent / "core" / "decision_cases.py"
        spec = importlib.util.spec_from_file_location("decision_cases", path)
        assert spec is not None and spec.loader is not None
        loaded = importlib.util.module_from_spec(spec)
        sys.modules["decision_cases"] = loaded
        spec.loader.exec_module(loaded)
    return loaded
