"""A real `maytrain serve` whose store's history changes under it: an SQLite file replaced
by an older copy (behind, or caught up again with other changes), a PostgreSQL database
dropped and restored from a dump, a change-log row put in above the version counter. The
sidecar notices, reloads (or refuses, stale after max_staleness), and the opt-out written
afterwards denies: before the chained feed, each of these was an ALLOW for good."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import grpc
import psycopg
import pytest
from private_postgres import private_postgres
from running_sidecar import SERVICE, SERVING, Launcher, free_port, maytrain, maytrain_command

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2 as R
from sidecar.core.model import Effect
from sidecar.policy_files import load_policy
from sidecar.store import ConsentRequest, open_store

POLICY = load_policy()
RECORD = R.Record(account_id="sample-terms", data_category="service_generated.telemetry",
                  purpose="ai.training")
RECORD.collected_at.FromSeconds(1_740_787_200)
RELOADED = "store history changed under the sidecar: restored, re-made or forked; reloading"


def eventually(probe: Callable[[], object], wanted: object, timeout: float = 10) -> None:
    """Wait until probe() returns `wanted`; fail with the last answer after `timeout`."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        last = probe()
        if last == wanted:
            return
        time.sleep(0.05)
    raise AssertionError(f"still {last!r}, never {wanted!r}")


def reason(stub: pb_grpc.ConsentCheckServiceStub, min_version: int = 0) -> str:
    response = stub.Check(pb.CheckRequest(record=RECORD, min_consent_version=min_version),
                          timeout=5)
    return R.Reason.Name(response.decision.reason)


def write(url: str, effect: Effect = Effect.OPT_OUT, account: str = "sample-terms") -> int:
    """Write one entry (an opt-out of everything by default); its consent version."""
    category = "service_generated" if effect is Effect.OPT_OUT else "customer_content"
    with open_store(url, policy=POLICY) as store:
        request = ConsentRequest(account, category, "ai", effect)
        return store.record_consent(request, actor="test").version


def sqlite_copy(source: Path, target: Path) -> None:
    """An online backup of an SQLite store (SQLite's backup API)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def replace_file(live: Path, copy: Path) -> None:
    """Put `copy` in place of the live store file, as an operator restoring a backup would:
    the live WAL emptied first, so no frame of the old file is replayed into the new one."""
    with closing(sqlite3.connect(live)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    os.replace(copy, live)


@pytest.fixture
def launcher(tmp_path: Path):
    started = Launcher(tmp_path)
    yield started
    started.stop_all()


def test_an_sqlite_file_replaced_by_an_older_copy_is_reloaded(launcher: Launcher,
                                                               tmp_path: Path) -> None:
    live, backup = tmp_path / "consent.db", tmp_path / "backup.db"
    sidecar = launcher()
    stub = sidecar.stub()
    sqlite_copy(live, backup)
    for _ in range(5):
        ahead = write(launcher.store, Effect.GRANT)
    assert reason(stub, ahead) == "REASON_ALLOWED_BY_TERMS"
    replace_file(live, backup)                       # the store is back 5 versions
    eventually(lambda: "store reachable again" in sidecar.log.read_text(), True)
    opt_out = write(launcher.store)
    assert opt_out == ahead - 4
    eventually(lambda: reason(stub), "REASON_DENIED_OPTED_OUT")
    status = stub.GetStatus(pb.GetStatusRequest(), timeout=5)
    assert status.consent_version == opt_out and status.history_reloads == 1
    assert f"went back from consent version {ahead}" in status.last_history_reload
    assert RELOADED in sidecar.log.read_text()
    shown = maytrain("status", "--target", sidecar.tcp, cwd=tmp_path).stdout
    assert re.search(r"history_?reloads: 1$", shown, re.IGNORECASE | re.MULTILINE)
    assert re.search(r"last_?history_?reload: the store went back", shown, re.IGNORECASE)


def test_an_older_copy_that_caught_up_with_other_changes_is_reloaded(launcher: Launcher,
                                                                    tmp_path: Path) -> None:
    """The versions match again, the history does not: only the chain tells them apart."""
    live, backup = tmp_path / "consent.db", tmp_path / "backup.db"
    sidecar = launcher()
    stub = sidecar.stub()
    sqlite_copy(live, backup)
    for _ in range(3):
        ahead = write(launcher.store, Effect.GRANT)
    assert reason(stub, ahead) == "REASON_ALLOWED_BY_TERMS"
    copy_url = f"sqlite:///{backup}"
    versions = [write(copy_url), write(copy_url, Effect.GRANT), write(copy_url, Effect.GRANT)]
    assert versions[-1] == ahead                     # the copy is where the live store was
    replace_file(live, backup)
    eventually(lambda: reason(stub), "REASON_DENIED_OPTED_OUT")
    status = stub.GetStatus(pb.GetStatusRequest(), timeout=5)
    assert status.consent_version == ahead and status.history_reloads == 1
    assert f"chain at consent version {ahead} is not the one" in status.last_history_reload


def test_a_change_above_the_counter_is_refused_then_numbered_past(launcher: Launcher,
                                                                  tmp_path: Path) -> None:
    sidecar = launcher("--max-staleness", "1.5")
    stub = sidecar.stub()
    sidecar.wait_health(SERVICE, SERVING)
    counter = stub.GetStatus(pb.GetStatusRequest(), timeout=5).consent_version
    with closing(sqlite3.connect(tmp_path / "consent.db")) as conn:
        conn.execute("INSERT INTO changes (version, kind, changed_at, changed_by, id, "
                     "account_id, created, row_version) VALUES (?, 'account', 0, 'hand', "
                     "'ghost', 'ghost', 0, ?)", (counter + 100, counter + 100))
        conn.commit()
    above = f"holds version {counter + 100}, above the store's version counter {counter}"
    eventually(lambda: above in stub.GetStatus(pb.GetStatusRequest(), timeout=5).sync_error,
               True)
    eventually(lambda: reason(stub), "REASON_DENIED_STALE_CACHE")
    opt_out = write(launcher.store)
    assert opt_out == counter + 101
    eventually(lambda: reason(stub), "REASON_DENIED_OPTED_OUT")
    status = stub.GetStatus(pb.GetStatusRequest(), timeout=5)
    assert status.sync_error == "" and status.consent_version == opt_out
    assert status.history_reloads == 1 and status.serving


@pytest.mark.postgres
def test_a_postgres_database_restored_from_a_dump_is_reloaded(tmp_path: Path) -> None:
    with private_postgres() as server:
        with psycopg.connect(server.url, autocommit=True) as admin:
            admin.execute("CREATE DATABASE consent")
        url = server.url.rsplit("/", 1)[0] + "/consent"
        maytrain("store", "init", "--sample", "--store", url, cwd=tmp_path)
        dump = tmp_path / "consent.dump"
        subprocess.run([str(server.bin / "pg_dump"), "-Fc", "-f", str(dump), "-d", url],
                       check=True, capture_output=True, timeout=60)
        target = f"127.0.0.1:{free_port()}"
        with (tmp_path / "serve.log").open("w") as log:
            process = subprocess.Popen([*maytrain_command(), "serve", "--store", url,
                                        "--listen", target, "--sync-interval", "0.2"],
                                       cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        try:
            _restored_then_opted_out(server, url, dump, target)
        finally:
            process.terminate()
            process.wait(timeout=30)


def _restored_then_opted_out(server, url: str, dump: Path, target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.ConsentCheckServiceStub(channel)
        for _ in range(4):
            ahead = write(url, Effect.GRANT)
        response = stub.Check(pb.CheckRequest(record=RECORD, min_consent_version=ahead),
                              timeout=15, wait_for_ready=True)
        assert response.decision.reason == R.REASON_ALLOWED_BY_TERMS
        with psycopg.connect(server.url, autocommit=True) as admin:
            admin.execute("DROP DATABASE consent WITH (FORCE)")
            admin.execute("CREATE DATABASE consent")
        subprocess.run([str(server.bin / "pg_restore"), "-d", url, str(dump)], check=True,
                       capture_output=True, timeout=60)
        opt_out = write(url)
        assert opt_out < ahead
        eventually(lambda: reason(stub), "REASON_DENIED_OPTED_OUT", timeout=20)
        status = stub.GetStatus(pb.GetStatusRequest(), timeout=5)
        assert status.history_reloads == 1 and status.consent_version == opt_out
