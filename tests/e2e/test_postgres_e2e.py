"""Real `maytrain serve` processes following one PostgreSQL store: a revocation written with
the CLI reaches every sidecar within a second by notification alone; a database outage
longer than max_staleness turns them to stale denials (unready, still live) and they
recover without reloading a snapshot; a password from a file works and never shows."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from postgres_support import database_outage, dbname_of, server_url, temporary_database, unique_name
from psycopg import sql
from running_sidecar import NOT_SERVING, SERVICE, SERVING, Launcher, RunningSidecar, maytrain
from test_sidecar_e2e import REASONS

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_pb2 as R

SECRET = "e2e-" + secrets.token_hex(8)
TERMS = REASONS[R.REASON_ALLOWED_BY_TERMS]          # sample-terms, service_generated
CONSENTED = REASONS[R.REASON_ALLOWED_BY_CONSENT]    # sample-consented, customer_content
SNAPSHOT_LOADED = "loaded a full snapshot"


class PostgresLauncher(Launcher):
    """Starts sidecars on a PostgreSQL store holding the sample data."""

    def __init__(self, workdir: Path, store: str) -> None:
        self.workdir, self.started, self.store = workdir, [], store
        maytrain("store", "init", "--sample", "--store", store, cwd=workdir)

    def fleet(self, count: int, *extra: str) -> list[RunningSidecar]:
        """`count` sidecars started together, each once live and ready."""
        sidecars = [self(*extra, wait=False, name=f"s{i}") for i in range(count)]
        for sidecar in sidecars:
            sidecar.wait_health(SERVICE, SERVING)
        return sidecars


@contextmanager
def fleet_on_new_database(tmp_path: Path, count: int, *extra: str,
                          password: str = "") -> Iterator[tuple[str, list[RunningSidecar]]]:
    """A throwaway database with the sample, and `count` sidecars following it."""
    with temporary_database(server_url(), "maytrain_e2e") as url:
        if password:
            url = url.replace("://postgres@", f"://postgres:{password}@")
        launcher = PostgresLauncher(tmp_path, url)
        try:
            yield url, launcher.fleet(count, *extra)
        finally:
            launcher.stop_all()


_STUBS: dict[str, object] = {}


def stub_of(sidecar: RunningSidecar):
    """One stub (one channel) per sidecar, so polling does not open a connection per call."""
    if sidecar.tcp not in _STUBS:
        _STUBS[sidecar.tcp] = sidecar.stub()
    return _STUBS[sidecar.tcp]


def reason_of(sidecar: RunningSidecar, record) -> int:
    """The reason a sidecar gives now (no min_consent_version: no sync is forced)."""
    return stub_of(sidecar).Check(pb.CheckRequest(record=record), timeout=5).decision.reason


def seconds_until_all(sidecars: list[RunningSidecar], record, reason: int,
                      timeout: float = 10) -> float:
    """Seconds from now until every sidecar gives `reason` for the record."""
    started, pending = time.monotonic(), list(sidecars)
    while pending:
        pending = [s for s in pending if reason_of(s, record) != reason]
        assert time.monotonic() - started < timeout, "some sidecars never changed their answer"
    return time.monotonic() - started


def opt_out(sidecar: RunningSidecar, account: str, category: str, purpose: str = "ai") -> int:
    """Write an opt-out with the CLI; the consent version it committed at."""
    done = sidecar.cli("consent", "opt-out", "--account", account, "--category", category,
                       "--purpose", purpose, "--json")
    return json.loads(done.stdout)["consent_version"]


def test_an_opt_out_reaches_three_sidecars_within_a_second_by_notification(tmp_path):
    """Polling every 30 s (and a 30 s staleness limit) cannot explain a sub-second answer."""
    with fleet_on_new_database(tmp_path, 3, "--sync-interval", "30") as (_, sidecars):
        assert all(reason_of(s, TERMS) == R.REASON_ALLOWED_BY_TERMS for s in sidecars)
        time.sleep(0.5)  # every follow loop is listening by now
        opt_out(sidecars[0], "sample-terms", "service_generated")
        assert seconds_until_all(sidecars, TERMS, R.REASON_DENIED_OPTED_OUT) < 1.0


def test_an_outage_past_max_staleness_fails_closed_then_recovers_without_a_snapshot(tmp_path):
    """Readiness drops while liveness stays; afterwards the feed, not a snapshot, catches up."""
    extra = ("--sync-interval", "30", "--max-staleness", "2")
    with fleet_on_new_database(tmp_path, 3, *extra, password=SECRET) as (url, sidecars):
        with database_outage(server_url(), dbname_of(url)):
            for sidecar in sidecars:
                sidecar.wait_health(SERVICE, NOT_SERVING, timeout=10)
                sidecar.wait_health("liveness", SERVING, timeout=1)
                assert reason_of(sidecar, CONSENTED) == R.REASON_DENIED_STALE_CACHE
            time.sleep(1)
        for sidecar in sidecars:
            sidecar.wait_health(SERVICE, SERVING, timeout=15)
            assert reason_of(sidecar, CONSENTED) == R.REASON_ALLOWED_BY_CONSENT
        opt_out(sidecars[0], "sample-consented", "customer_content.chat", "ai.training")
        seconds_until_all(sidecars, CONSENTED, R.REASON_DENIED_OPTED_OUT, timeout=5)
        for sidecar in sidecars:
            log = sidecar.log.read_text()
            assert "consent store sync failed" in log and "reachable again" in log
            assert log.count(SNAPSHOT_LOADED) == 1, log
            assert SECRET not in log
            status = stub_of(sidecar).GetStatus(pb.GetStatusRequest(), timeout=5)
            assert SECRET not in str(status) and ":***@" in status.store


@contextmanager
def login_role(password: str) -> Iterator[str]:
    """A role that logs in with a password, dropped afterwards."""
    role = unique_name("maytrain_e2e_role")
    with psycopg.connect(server_url(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(password)))
    try:
        yield role
    finally:
        with psycopg.connect(server_url(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _sessions(url: str, role: str) -> list[str]:
    with psycopg.connect(server_url()) as admin:
        return [row[0] for row in admin.execute(
            "SELECT application_name FROM pg_stat_activity WHERE datname = %s AND usename = %s",
            (dbname_of(url), role))]


def test_a_password_from_a_file_is_used_and_never_printed(tmp_path, monkeypatch):
    """MAYTRAIN_STORE_PASSWORD_FILE: init, serve and errors work with it and never show it."""
    secret_file = tmp_path / "store-password"
    secret_file.write_text(SECRET + "\n")
    with login_role(SECRET) as role, temporary_database(server_url(), "maytrain_e2e") as url:
        with psycopg.connect(server_url(), autocommit=True) as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(dbname_of(url)), sql.Identifier(role)))
        store = url.replace("://postgres@", f"://{role}@")
        monkeypatch.setenv("MAYTRAIN_STORE_PASSWORD_FILE", str(secret_file))
        launcher = PostgresLauncher(tmp_path, store)
        try:
            (sidecar,) = launcher.fleet(1, "--sync-interval", "30")
            assert reason_of(sidecar, TERMS) == R.REASON_ALLOWED_BY_TERMS
            assert "maytrain" in _sessions(url, role)
            status = stub_of(sidecar).GetStatus(pb.GetStatusRequest(), timeout=5)
            failed = maytrain("consent", "list", "--account", "x", "--store",
                              store + "_missing", cwd=tmp_path, check=False)
            missing = tmp_path / "no-such-file"
            monkeypatch.setenv("MAYTRAIN_STORE_PASSWORD_FILE", str(missing))
            unreadable = sidecar.cli("consent", "list", "--account", "x", check=False)
        finally:
            launcher.stop_all()
        log = sidecar.log.read_text()
    assert failed.returncode == 1 and "does not exist" in failed.stderr
    assert unreadable.returncode == 1 and str(missing) in unreadable.stderr
    for text in (log, str(status), failed.stdout + failed.stderr, unreadable.stderr):
        assert SECRET not in text
