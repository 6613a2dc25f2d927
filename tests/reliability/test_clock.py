"""A wall clock that steps back (NTP, a resumed VM) never extends a cache's life and never
undoes a restriction: the decision clock is monotonic and never below what it has seen."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.clock import DecisionClock
from sidecar.core import Effect, Reason, Record
from sidecar.core.decision import decide
from sidecar.policy_files import load_policy
from sidecar.store import ConsentRequest, open_store
from sidecar.sync import StoreFollower

HOUR = 3600 * 1_000_000
START = 1_750_000_000 * 1_000_000  # 2025-06-15: after the default terms took effect


class Machine:
    """A wall clock and a monotonic clock the test moves, in microseconds."""

    def __init__(self) -> None:
        self.wall, self.monotonic = START, 5_000_000

    def wall_ns(self) -> int:
        return self.wall * 1000

    def monotonic_ns(self) -> int:
        return self.monotonic * 1000

    def elapse(self, micros: int) -> None:
        self.wall += micros
        self.monotonic += micros


@pytest.fixture
def machine() -> Machine:
    return Machine()


@pytest.fixture
def clock(machine: Machine) -> DecisionClock:
    return DecisionClock(wall=machine.wall_ns, monotonic=machine.monotonic_ns)


def test_a_wall_clock_stepping_back_does_not_move_now(machine, clock) -> None:
    before = clock()
    machine.wall -= HOUR
    machine.monotonic += 1_000_000
    assert clock() == before + 1_000_000


def test_a_wall_clock_stepping_ahead_is_followed(machine, clock) -> None:
    before = clock()
    machine.wall += HOUR
    assert clock() == before + HOUR


def test_now_never_falls_below_a_time_seen(machine, clock) -> None:
    clock.observe(START + HOUR)
    assert clock() == START + HOUR
    machine.monotonic += 10
    assert clock() == START + HOUR + 10


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'consent.db'}"
    with open_store(url, create=True, policy=load_policy(), clock=lambda: START) as store:
        store.add_account("acme", "US", actor="test")
    return url


def follow(url: str, clock: DecisionClock) -> StoreFollower:
    follower = StoreFollower(lambda: open_store(url, policy=load_policy()), clock=clock,
                             on_time_seen=clock.observe)
    follower.refresh()
    return follower


TELEMETRY = Record("acme", "service_generated.telemetry", "ai.training", collected_at=START)


def test_a_cache_goes_stale_on_time_when_the_wall_clock_steps_back(store_url, machine,
                                                                   clock) -> None:
    policy = load_policy()
    follower = follow(store_url, clock)
    assert decide(TELEMETRY, follower.index, policy, clock()).reason is Reason.ALLOWED_BY_TERMS
    machine.wall -= HOUR  # the store is gone from here on: no sync refreshes the cache
    machine.monotonic += int((policy.max_staleness_seconds + 1) * 1_000_000)
    assert decide(TELEMETRY, follower.index, policy, clock()).reason is Reason.DENIED_STALE_CACHE


def test_an_opt_out_in_force_when_written_binds_on_a_clock_an_hour_behind(store_url, machine,
                                                                          clock) -> None:
    with open_store(store_url, policy=load_policy(), clock=lambda: START) as store:
        store.record_consent(ConsentRequest("acme", "service_generated", "ai", Effect.OPT_OUT,
                                            valid_from=START - 600 * 1_000_000), actor="test")
    machine.wall = START - HOUR  # this sidecar starts on a clock an hour behind the writer's
    behind = DecisionClock(wall=machine.wall_ns, monotonic=machine.monotonic_ns)
    follower = follow(store_url, behind)
    decision = decide(TELEMETRY, follower.index, load_policy(), behind())
    assert decision.reason is Reason.DENIED_OPTED_OUT
