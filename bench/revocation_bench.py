"""Revocation propagation on PostgreSQL: from an opt-out's write until each sidecar denies.

One run, on one server: the floor is a bare NOTIFY -> LISTEN round trip (psycopg, one
notifier and one listener connection); then N sidecars (`maytrain serve`, polling only every
30 s, so pushed notifications carry every change) follow a store in a throwaway database,
and for each revocation this process writes an opt-out through the store API and polls
`Check` (no min_consent_version) on every sidecar until it answers DENIED_OPTED_OUT.
Reported for N = 1 and N = 8: p50/p99 per sidecar, and until all N deny.
Target: p99 under 100 ms. Bounded: every wait has a timeout, and the run stops early
(reporting what it measured) after --max-seconds.

    python bench/revocation_bench.py [--url postgresql://...] [--revocations 200]
                                     [--sidecars 1,8] [--max-seconds 300]

The server URL defaults to $MAYTRAIN_TEST_POSTGRES_URL; the database is created and
dropped by the run.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import grpc
import psycopg
from processes import free_port, maytrain
from psycopg import sql

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2
from sidecar.core.model import Effect
from sidecar.policy_files import load_policy
from sidecar.store import AccountRequest, ConsentRequest, open_store

POLICY = load_policy()

TARGET_P99_MS = 100.0
WAIT = 5.0  # seconds any single revocation (or notification) may take before it counts as lost


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of `values` (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


@contextmanager
def throwaway_database(server: str) -> Iterator[str]:
    """A new database on the server; yields its URL and drops it afterwards."""
    name = f"maytrain_bench_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def notify_floor(url: str, count: int) -> list[float]:
    """Seconds from sending a NOTIFY until the listening connection has it, `count` times."""
    received: list[float] = []
    arrived = threading.Event()
    with psycopg.connect(url, autocommit=True) as listener, \
            psycopg.connect(url, autocommit=True) as notifier:
        listener.execute("LISTEN bench_floor")

        def listen() -> None:
            while len(received) <= count:
                heard = list(listener.notifies(timeout=WAIT, stop_after=1))
                if not heard:
                    return  # one was lost; the main thread stops waiting too
                received.extend(time.perf_counter() for _ in heard)
                arrived.set()

        thread = threading.Thread(target=listen)
        thread.start()
        sent = []
        for i in range(count + 1):  # the first is a warm-up
            arrived.clear()
            sent.append(time.perf_counter())
            notifier.execute("SELECT pg_notify('bench_floor', %s)", (str(i),))
            arrived.wait(WAIT)
        thread.join(WAIT)
    return [r - s for s, r in zip(sent[1:], received[1:], strict=True)]


class Fleet:
    """N `maytrain serve` processes on one store, each with one channel to it."""

    def __init__(self, store: str, count: int, workdir: Path) -> None:
        self.addresses = [f"127.0.0.1:{free_port()}" for _ in range(count)]
        self.logs = [open(  # noqa: SIM115 - closed in close()
            workdir / f"s{i}.log", "w") for i in range(count)]
        self.processes = [
            subprocess.Popen([*maytrain(), "serve", "--store", store, "--listen", address,
                              "--sync-interval", "30"], stdout=log, stderr=subprocess.STDOUT)
            for address, log in zip(self.addresses, self.logs, strict=True)]
        self.channels = [grpc.insecure_channel(address) for address in self.addresses]
        self.stubs = [pb_grpc.ConsentCheckServiceStub(ch) for ch in self.channels]

    def wait_serving(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for stub in self.stubs:
            while True:
                try:
                    if stub.GetStatus(pb.GetStatusRequest(), timeout=1).serving:
                        break
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the sidecars did not become ready; see their logs")
                time.sleep(0.1)

    def close(self) -> None:
        for channel in self.channels:
            channel.close()
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in self.logs:
            log.close()


def record_of(account: str) -> consent_pb2.Record:
    rec = consent_pb2.Record(account_id=account, data_category="service_generated.telemetry",
                             purpose="ai.training")
    rec.collected_at.FromSeconds(1_750_000_000)
    return rec


def until_denied(stubs, record, started: float) -> list[float]:
    """Poll every sidecar (in parallel) until each denies; seconds from `started` for each."""
    request = pb.CheckRequest(record=record)
    done: dict[int, float] = {}
    while len(done) < len(stubs) and time.perf_counter() - started < WAIT:
        calls = {i: stub.Check.future(request, timeout=WAIT)
                 for i, stub in enumerate(stubs) if i not in done}
        for i, call in calls.items():
            if call.result().decision.reason == consent_pb2.REASON_DENIED_OPTED_OUT:
                done[i] = time.perf_counter() - started
    return [done.get(i, float("inf")) for i in range(len(stubs))]


def revocations(store, fleet: Fleet, accounts: list[str], deadline: float,
                writes: list[float]) -> list[list[float]]:
    """Each account's opt-out, written then polled for; per revocation, seconds per sidecar."""
    # `writes` gets how long each write itself took: part of every revocation's time.
    results = []
    for account in accounts:
        if time.monotonic() > deadline:
            print(f"  stopped early after {len(results)} revocations (--max-seconds)")
            break
        request = ConsentRequest(account, "service_generated", "ai", Effect.OPT_OUT)
        started = time.perf_counter()
        store.record_consent(request, actor="bench")
        writes.append(time.perf_counter() - started)
        results.append(until_denied(fleet.stubs, record_of(account), started))
        time.sleep(0.005)
    return results


def run_fleet(store_url: str, store, count: int, total: int, deadline: float,
              workdir: Path, writes: list[float]) -> list[list[float]]:
    accounts = [f"bench-{count}-{i}" for i in range(total)]
    store.write([AccountRequest(account, "US") for account in accounts], actor="bench")
    fleet = Fleet(store_url, count, workdir)
    try:
        fleet.wait_serving()
        time.sleep(0.5)  # the follow loops are listening by now
        return revocations(store, fleet, accounts, deadline, writes)
    finally:
        fleet.close()


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1e3:7.1f} ms"


def report(floor: list[float], writes: list[float], runs: dict[int, list[list[float]]]) -> bool:
    print(f"{'floor: NOTIFY -> LISTEN':32} n={len(floor):4}  p50 {ms(floor, 50)}  "
          f"p99 {ms(floor, 99)}")
    print(f"{'the opt-out write (commit)':32} n={len(writes):4}  p50 {ms(writes, 50)}  "
          f"p99 {ms(writes, 99)}")
    ok = True
    for count, results in runs.items():
        each = [t for result in results for t in result]
        every = [max(result) for result in results]
        lost = sum(1 for t in each if t == float("inf"))
        for label, values in ((f"N={count} per sidecar", each), (f"N={count} all sidecars", every)):
            print(f"{label:32} n={len(values):4}  p50 {ms(values, 50)}  p99 {ms(values, 99)}"
                  f"  ({percentile(values, 99) / percentile(floor, 99):.1f}x floor p99)")
        if lost:
            print(f"  {lost} sidecar answers did not turn within {WAIT:.0f} s")
        ok = ok and not lost and percentile(every, 99) * 1e3 < TARGET_P99_MS
    print(f"target: p99 (all sidecars) under {TARGET_P99_MS:.0f} ms: {'met' if ok else 'MISSED'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("MAYTRAIN_TEST_POSTGRES_URL"),
                        help="a PostgreSQL server URL (default $MAYTRAIN_TEST_POSTGRES_URL)")
    parser.add_argument("--revocations", type=int, default=200)
    parser.add_argument("--sidecars", default="1,8", help="fleet sizes, comma-separated")
    parser.add_argument("--max-seconds", type=float, default=300)
    args = parser.parse_args()
    if not args.url:
        parser.error("no server: pass --url or set MAYTRAIN_TEST_POSTGRES_URL")
    deadline = time.monotonic() + args.max_seconds
    with throwaway_database(args.url) as url, tempfile.TemporaryDirectory() as tmp:
        floor = notify_floor(url, args.revocations)
        runs, writes = {}, []
        with open_store(url, create=True, policy=POLICY) as store:
            for count in (int(n) for n in args.sidecars.split(",")):
                runs[count] = run_fleet(url, store, count, args.revocations, deadline,
                                        Path(tmp), writes)
    return 0 if report(floor, writes, runs) else 1


if __name__ == "__main__":
    sys.exit(main())
