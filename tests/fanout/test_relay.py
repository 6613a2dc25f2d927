"""The relay against the real NATS server: each change published once, in order, with two
relays at once; a relay that was away resumes where the stream ends; retention and
snapshots as configured."""

from __future__ import annotations

import asyncio

import nats
from fanout_support import MemoryStore, wait_for

from sidecar.core import Account, ConsentEntry, Effect
from sidecar.fanout.relay import DEFAULT_RETENTION, RelayOptions
from sidecar.fanout.snapshots import latest_mark
from sidecar.fanout.wire import Names, change_of
from sidecar.store.chain import chain_of, genesis


def accounts(start: int, count: int) -> list:
    return [Account(f"acct-{i}", "US") for i in range(start, start + count)]


def stream_messages(url: str, names: Names) -> list:
    """Every change message in the stream, as (sequence, change)."""

    async def read() -> list:
        nc = await nats.connect(url)
        js = nc.jetstream()
        state = (await js.stream_info(names.stream)).state
        found = []
        for seq in range(state.first_seq, state.last_seq + 1):
            msg = await js.get_msg(names.stream, seq=seq)
            found.append((msg.seq, change_of(msg.data, msg.headers)))
        await nc.close()
        return found

    return asyncio.run(read())


def assert_each_version_once(messages: list, first: int, last: int, chain: str) -> None:
    versions = [change.version for _, change in messages]
    assert versions == list(range(first, last + 1))
    for _, change in messages:
        assert chain_of(chain, change) == change.chain
        chain = change.chain


def test_two_relays_publish_every_write_exactly_once(nats_url, names, running) -> None:
    store = MemoryStore(accounts(0, 1))
    relays = [running.relay(store.reader, nats_url, names) for _ in range(2)]
    wait_for(lambda: all(r.position for r in relays), what="both relays on the stream")
    for batch in range(10):  # writes arrive while both relays run
        last = store.add(accounts(1 + batch * 30, 30))
        wait_for(lambda v=last: any(r.position and r.position.version == v for r in relays))
    wait_for(lambda: all(r.position and r.position.version == last for r in relays))
    messages = stream_messages(nats_url, names)
    assert_each_version_once(messages, 2, last, store.changes[0].chain)
    assert sum(r.published for r in relays) == last - 1


def test_a_relay_that_was_away_resumes_at_the_first_missing_version(nats_url, names,
                                                                    running) -> None:
    store = MemoryStore(accounts(0, 3))
    relay = running.relay(store.reader, nats_url, names)
    wait_for(lambda: relay.position, what="a first snapshot at 3")
    store.add(accounts(3, 5))
    wait_for(lambda: relay.position.version == 8)
    running.stop()
    last = store.add(accounts(8, 40))  # written while no relay runs
    again = running.relay(store.reader, nats_url, names)
    wait_for(lambda: again.position and again.position.version == last)
    assert_each_version_once(stream_messages(nats_url, names), 4, last, store.changes[2].chain)
    assert again.published == 40


def test_the_stream_keeps_seven_days_unless_told_otherwise(nats_url, names, running) -> None:
    store = MemoryStore(accounts(0, 1))
    relay = running.relay(store.reader, nats_url, names, RelayOptions(heartbeat=0.2))
    wait_for(lambda: relay.position)

    async def max_age() -> float:
        nc = await nats.connect(nats_url)
        info = await nc.jetstream().stream_info(names.stream)
        await nc.close()
        return info.config.max_age

    assert DEFAULT_RETENTION >= 7 * 86_400 and asyncio.run(max_age()) == DEFAULT_RETENTION
    running.stop()
    running.relay(store.reader, nats_url, names, RelayOptions(retention=3600))
    wait_for(lambda: asyncio.run(max_age()) == 3600, what="retention changed to an hour")


def test_a_snapshot_is_put_every_n_changes(nats_url, names, running) -> None:
    store = MemoryStore(accounts(0, 2))
    options = RelayOptions(heartbeat=0.2, sync_interval=0.05, snapshot_changes=10,
                           snapshot_seconds=3600)
    relay = running.relay(store.reader, nats_url, names, options)
    wait_for(lambda: relay.snapshot_mark and relay.snapshot_mark.version == 2)
    store.add(accounts(2, 5))
    wait_for(lambda: relay.position and relay.position.version == 7)
    assert relay.snapshot_mark.version == 2  # 5 changes: not yet
    store.add([ConsentEntry("e1", "acct-0", "service_generated", "ai", Effect.OPT_OUT)] +
              accounts(7, 5))
    wait_for(lambda: relay.snapshot_mark.version == 13, what="a snapshot at 13")
    mark = latest_mark(relay._link, names)
    assert mark is not None and (mark.version, mark.chain) == (13, store.changes[-1].chain)
    assert genesis("memory") != mark.chain
