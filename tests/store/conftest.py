"""Fixtures for the store contract suite: one `store` per backend, a controllable clock.

Every contract test runs once per entry of BACKENDS. PostgreSQL stores live in a schema
each, in one throwaway database per session on the server named by
MAYTRAIN_TEST_POSTGRES_URL (see tests/postgres_support.py: skipped without it, failed
without it under MAYTRAIN_REQUIRE_POSTGRES=1).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from postgres_support import create_schema, postgres_database, postgres_server  # noqa: F401

from sidecar.core.model import Micros
from sidecar.core.times import parse_timestamp
from sidecar.policy_files import load_policy
from sidecar.store import ConsentStore, open_store

POLICY = load_policy()

BACKENDS = ["sqlite", "postgres"]
START = parse_timestamp("2026-01-31T12:00:00Z")


class FakeClock:
    """A writer's clock that only moves when told to (one second per `advance`)."""

    def __init__(self, now: Micros = START) -> None:
        self.now = now

    def __call__(self) -> Micros:
        return self.now

    def advance(self, seconds: float = 1.0) -> Micros:
        """Move the clock forward; returns the new time."""
        self.now += int(seconds * 1_000_000)
        return self.now


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test."""
    return request.param


@pytest.fixture
def new_store_url(backend: str, tmp_path,
                  request: pytest.FixtureRequest) -> Callable[[], str]:
    """Makes the URL of a fresh, not yet created store of the backend under test."""
    if backend == "postgres":
        database = request.getfixturevalue("postgres_database")
        return lambda: create_schema(database)
    counter = itertools.count(1)

    def make() -> str:
        return f"sqlite:///{tmp_path / f'consent-{next(counter)}.db'}"

    return make


@pytest.fixture
def store_url(new_store_url: Callable[[], str]) -> str:
    """The URL of the test's store."""
    return new_store_url()


@pytest.fixture
def clock() -> FakeClock:
    """The writers' clock, at 2026-01-31T12:00:00Z until advanced."""
    return FakeClock()


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[ConsentStore]:
    """A freshly created, empty store."""
    with open_store(store_url, create=True, policy=POLICY, clock=clock) as created:
        yield created


@pytest.fixture
def reopen(store: ConsentStore, store_url: str,
           clock: FakeClock) -> Iterator[Callable[..., ConsentStore]]:
    """Opens more connections to the test's store (as another process would)."""
    opened: list[ConsentStore] = []

    def make(**options) -> ConsentStore:
        opened.append(open_store(store_url, policy=POLICY, clock=clock, **options))
        return opened[-1]

    yield make
    for other in opened:
        other.close()


@pytest.fixture
def account(store: ConsentStore) -> str:
    """An account in the store (region DE), added at version 1."""
    store.add_account("acme", "de", actor="test")
    return "acme"
