"""WatchChanges through a real `maytrain serve`: the feed after a version in order, new
changes within the second, expiries when they pass, each change once across a resumed
stream, and refusals a caller can act on."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from maytrain.client import ChangeKind, ConsentClient, HistoryUnavailable
from sidecar.core.model import Effect
from sidecar.core.times import to_micros
from sidecar.policy_files import load_policy
from sidecar.store import ConsentStore, open_store
from sidecar.store.requests import ConsentRequest


@pytest.fixture
def sidecar(start_sidecar):
    return start_sidecar()


@pytest.fixture
def store(sidecar) -> Iterator[ConsentStore]:
    with open_store(sidecar.store, policy=load_policy()) as opened:
        yield opened


def opt_out(store: ConsentStore, account: str, entry_id: str) -> int:
    request = ConsentRequest(account, "customer_content", "ai", Effect.OPT_OUT, entry_id=entry_id)
    return store.record_consent(request, actor="test").version


def take(watch, count: int, timeout: float = 10.0) -> list:
    """The next `count` changes of a watch, read on a thread so a hang fails the test."""
    found: list = []
    done = threading.Event()

    def read() -> None:
        for change in watch:
            found.append(change)
            if len(found) == count:
                break
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(timeout), f"only {len(found)} of {count} changes came: {found}"
    return found


def test_the_feed_after_a_version_comes_in_order_then_new_changes_within_a_second(
        sidecar, store) -> None:
    start = store.version()
    opt_out(store, "sample-consented", "o-1")
    store.request_erasure("sample-consented", "u-7", actor="test")
    with ConsentClient(sidecar.tcp) as client:
        watch = client.watch_changes(start, restricting_only=False)
        first = take(watch, 2)
        written = time.monotonic()
        version = opt_out(store, "sample-terms", "o-2")
        (late,) = take(watch, 1)
    assert [(c.consent_version, c.kind) for c in first] == [
        (start + 1, ChangeKind.OPT_OUT), (start + 2, ChangeKind.ERASURE)]
    assert (late.consent_version, late.entry_id, late.restricts) == (version, "o-2", True)
    assert time.monotonic() - written < 1.5
    assert first[1].user_id == "u-7" and first[0].category == "customer_content"


def test_restricting_only_leaves_out_what_cannot_deny(sidecar, store) -> None:
    start = store.version()
    store.add_account("new-account", actor="test")
    opt_out(store, "new-account", "o-3")
    with ConsentClient(sidecar.tcp) as client:
        watch = client.watch_changes(start, follow=False)
        changes = list(watch)
    assert [(c.kind, c.entry_id) for c in changes] == [(ChangeKind.OPT_OUT, "o-3")]
    assert watch.consent_version == start + 2


def test_a_grant_is_announced_when_it_runs_out(sidecar, store) -> None:
    now = to_micros(datetime.now(UTC))
    request = ConsentRequest("sample-consented", "customer_content.chat", "ai", Effect.GRANT,
                             entry_id="g-soon", valid_from=now - 10**6, valid_until=now + 2 * 10**6)
    version = store.record_consent(request, actor="test").version
    with ConsentClient(sidecar.tcp) as client:
        changes = take(client.watch_changes(version - 1), 1, timeout=8)
    assert (changes[0].kind, changes[0].entry_id, changes[0].consent_version) == (
        ChangeKind.EXPIRED, "g-soon", version)


def test_a_stream_resumed_after_the_sidecar_restarts_sees_each_change_once(
        start_sidecar, store) -> None:
    first = start_sidecar(name="w")
    start = store.version()
    opt_out(store, "sample-consented", "o-a")
    opt_out(store, "sample-consented", "o-b")
    with ConsentClient(first.uds, timeout=5) as client:
        watch = iter(client.watch_changes(start))
        seen = [next(watch), next(watch)]
        first.stop()
        opt_out(store, "sample-consented", "o-c")
        start_sidecar(name="w")  # the same socket path: the client comes back to it
        opt_out(store, "sample-consented", "o-d")
        seen += take(watch, 2, timeout=20)
    assert [c.entry_id for c in seen] == ["o-a", "o-b", "o-c", "o-d"]


def test_a_version_the_store_has_not_reached_is_refused_as_out_of_range(sidecar, store) -> None:
    with ConsentClient(sidecar.tcp) as client, pytest.raises(HistoryUnavailable,
                                                             match="full pass"):
        next(iter(client.watch_changes(store.version() + 100)))
