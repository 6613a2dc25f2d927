"""PostgreSQL backend: writers NOTIFY at commit and a reader's `wait_for_change` hears it."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from postgres_support import terminate_sessions

from sidecar.core.model import Effect
from sidecar.policy_files import load_policy
from sidecar.store import ConsentRequest, StoreUnavailableError, ValidationError

POLICY = load_policy()


@pytest.fixture
def backend() -> str:
    """These tests are about the PostgreSQL backend only."""
    return "postgres"


@pytest.fixture
def listener(store, reopen):
    """A second connection to the store that is already listening."""
    reader = reopen()
    assert reader.wait_for_change(0) is True
    return reader


def _opt_out(account: str) -> ConsentRequest:
    return ConsentRequest(account, "service_generated", "ai", Effect.OPT_OUT)


def test_the_first_wait_starts_listening_and_asks_for_a_sync(store, reopen):
    """Changes committed before LISTEN were never pushed, so the first call says: sync now."""
    reader = reopen()
    started = time.monotonic()
    assert reader.wait_for_change(5) is True
    assert time.monotonic() - started < 1


def test_a_quiet_store_waits_out_the_timeout(listener):
    """No write, no wake-up: False after the timeout."""
    started = time.monotonic()
    assert listener.wait_for_change(0.3) is False
    assert 0.25 < time.monotonic() - started < 2


def test_a_write_elsewhere_is_pushed_at_once(store, account, listener):
    """A committed write wakes the waiting reader long before its timeout."""
    timer = threading.Timer(0.2, store.record_consent, args=(_opt_out(account),),
                            kwargs={"actor": "t"})
    started = time.monotonic()
    timer.start()
    try:
        assert listener.wait_for_change(10) is True
    finally:
        timer.join()
    assert time.monotonic() - started < 1.5


def test_a_refused_write_pushes_nothing(store, account, listener):
    """The NOTIFY is part of the write transaction: a rolled back write sends none."""
    with pytest.raises(ValidationError):
        store.record_consent(_opt_out("nobody"), actor="t")
    assert listener.wait_for_change(0.3) is False


def test_several_writes_wake_the_reader_once(store, account, listener):
    """One sync covers every write pushed so far; the rest are drained with the first."""
    for _ in range(5):
        store.record_consent(_opt_out(account), actor="t")
    time.sleep(0.1)
    assert listener.wait_for_change(1) is True
    assert listener.wait_for_change(0.2) is False


def test_a_notification_read_during_a_query_is_kept_for_the_next_wait(store, account, listener):
    """A read on the listening connection may receive the notification; it is not lost."""
    store.record_consent(_opt_out(account), actor="t")
    time.sleep(0.1)
    assert listener.version() == 2
    assert listener.wait_for_change(0.2) is True


def test_stores_in_other_schemas_do_not_wake_each_other(listener, new_store_url):
    """Each store has its own channel, even in one database."""
    from sidecar.store import open_store

    with open_store(new_store_url(), create=True, policy=POLICY) as other:
        other.add_account("elsewhere", actor="t")
    assert listener.wait_for_change(0.3) is False


def test_a_dropped_connection_is_reported_unavailable(listener, postgres_server):
    """An ended session surfaces as StoreUnavailableError, for the follower to reconnect."""
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)",
                      (listener.connection_info.backend_pid,))
    with pytest.raises(StoreUnavailableError, match="unavailable"):
        listener.wait_for_change(5)


def test_terminate_sessions_ends_only_the_named_databases_sessions(listener, postgres_server):
    """The outage helper leaves other databases' sessions alone."""
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        assert terminate_sessions(admin, "maytrain_no_such_database") == 0
    assert listener.wait_for_change(0) is False
