"""Sidecars' followers on NATS: the same answers as following the store, on every decision
case file; a version missing from the stream is never skipped but reloaded."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import nats
import pytest
from fanout_support import FAST, MemoryStore, decision_cases, wait_for

from sidecar.core import Account, decide_batch
from sidecar.fanout.reader import NatsReader
from sidecar.fanout.relay import RelayOptions
from sidecar.sync import StoreFollower

CASES = decision_cases()
CASE_FILES = sorted(CASES.CASES.glob("*.toml"))


def _rows(path: Path) -> list:
    import tomllib

    return CASES.rows_of(tomllib.loads(path.read_text("utf-8")))


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.name for p in CASE_FILES])
def test_a_nats_follower_answers_as_a_store_follower(path, nats_url, names, running) -> None:
    rows = _rows(path)
    store = MemoryStore(rows[: len(rows) // 2])  # half in the snapshot, half as changes
    relay = running.relay(store.reader, nats_url, names)
    wait_for(lambda: relay.position, what="the relay's first snapshot")
    follower = running.follower(nats_url, names)
    last = store.add(rows[len(rows) // 2:])
    wait_for(lambda: follower.index and follower.index.version == last, what="the follower")
    direct = StoreFollower(store.reader).refresh()
    assert direct is not None and follower.snapshot_loads == 1
    for case in CASES.load_file(path):
        answers = []
        for index in (follower.index, direct):
            if case.index is not None:
                index = index.confirmed(case.index.synced_at)
            answers.append([(d.verdict, d.reason, d.rule) for d in decide_batch(
                [case.record], None if case.index is None else index, case.policy, case.now,
                min_version=case.min_version)])
        assert answers[0] == answers[1], case.id


def delete_message(url: str, stream: str, seq: int) -> None:
    async def delete() -> None:
        nc = await nats.connect(url)
        await nc.jetstream().delete_msg(stream, seq)
        await nc.close()

    asyncio.run(delete())


def test_a_version_missing_from_the_stream_forces_a_reload(nats_url, names, running) -> None:
    store = MemoryStore([Account("acct-0", "US")])
    relay = running.relay(store.reader, nats_url, names)
    wait_for(lambda: relay.position, what="a first snapshot at 1")
    store.add([Account(f"acct-{i}", "US") for i in range(1, 6)])
    wait_for(lambda: relay.position.version == 6)
    running.stop()
    delete_message(nats_url, names.stream, relay.position.seq - 2)  # version 4
    follower = running.follower(nats_url, names)
    wait_for(lambda: follower.history_reloads >= 1, what="a reload at the gap")
    assert follower.index is None or follower.index.version < 4  # never past the gap
    snapshots = RelayOptions(heartbeat=0.2, sync_interval=0.05, snapshot_changes=1)
    running.relay(store.reader, nats_url, names, snapshots)  # puts a snapshot at 6
    wait_for(lambda: follower.index and follower.index.version == 6, what="a reload at 6")
    assert follower.index.state("acct-5") is not None and FAST.heartbeat < 1


def test_a_restored_store_is_relayed_as_a_new_history_and_followers_reload(
        nats_url, names, running) -> None:
    store = MemoryStore([Account(f"acct-{i}", "US") for i in range(3)])
    relay = running.relay(store.reader, nats_url, names)
    wait_for(lambda: relay.position, what="a first snapshot")
    store.add([Account(f"acct-{i}", "US") for i in range(3, 8)])
    follower = running.follower(nats_url, names)
    wait_for(lambda: follower.index and follower.index.version == 8)
    restored = MemoryStore()
    restored.store_id = "restored"  # another genesis: another history, from version 1
    restored.add([Account(f"other-{i}", "DE") for i in range(4)])
    store.changes = restored.changes  # the store went back to version 4, another history
    wait_for(lambda: follower.index and follower.index.state("other-0").account is not None
             and follower.index.version == 4, what="the follower on the restored history")
    assert follower.index.state("acct-7").account is None and follower.history_reloads >= 1


class _SetAsTheWaitTimesOut(threading.Event):
    """An event the loop thread sets once just after a wait on it timed out, before the
    waiter goes on: under load the waiter needs the GIL back while the loop delivers."""

    def __init__(self) -> None:
        super().__init__()
        self.pending = True

    def wait(self, timeout: float | None = None) -> bool:
        arrived = super().wait(timeout)
        if not arrived and self.pending:
            self.pending = False
            self.set()  # a change delivered as the wait timed out
        return arrived


def test_a_change_delivered_as_a_wait_times_out_wakes_the_next_wait(nats_url, names) -> None:
    # Lost, it waited for the relay's next heartbeat: the ~1 s tail of the fan-out bench.
    reader = NatsReader(nats_url, names, label="nats")
    try:
        reader._event = _SetAsTheWaitTimesOut()
        assert reader.wait_for_change(0.01) is False
        assert reader.wait_for_change(0) is True
        assert reader.wait_for_change(0) is False  # reported once
    finally:
        reader.close()
