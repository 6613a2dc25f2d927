"""Fan-out: 20 sidecars following one relay over NATS against 20 each LISTENing on PostgreSQL.

One run, one PostgreSQL server, one NATS server. Three setups on the same throwaway store:
no followers; N `maytrain serve --store` sidecars (each holds a connection and LISTENs);
one `maytrain relay` and N `maytrain serve --follow` sidecars (the relay holds the store's
connections, the sidecars hold none). For each:

- the store's write rate: W writer threads commit opt-outs through the store API (each a
  transaction that NOTIFYs) for --seconds, --rounds times (the best round counts);
- revocation propagation: an opt-out is written, then every sidecar is polled with Check
  until all N deny (p50/p99 of that, from the write's start);
- the PostgreSQL connections the setup holds (pg_stat_activity on the store's database).

Targets: propagation p99 (all N) under 100 ms with NATS, and the write rate with N NATS
followers within 5% of the rate with none. The followers and the relay run at nice 19: on
one small machine they stand in for pods on other nodes, so the write rate measures what
the database pays for them (NOTIFY's lock and signals), not CPU they take from it; for the
propagation they run at the normal priority again, as pods do. The NATS setup's rate is
measured with its followers running (on this machine they still take CPU from the
database, which pods on other nodes would not) and, for the target, with them paused
(SIGSTOP: they hold no database connection, so what remains is the relay's own cost) in
--pairs pairs of rounds: one with the relay, one with it stopped, back to back (which goes
first alternates). This machine's speed drifts by more than the 5% judged from one minute
to the next, so the target is the median of the pairs' ratios, each taken within one
minute, not a ratio of rounds minutes apart. Before the propagation every sidecar has
caught up with the writes.

    python bench/fanout_bench.py [--url postgresql://...] [--nats nats://127.0.0.1:4222]
        [--sidecars 20] [--revocations 100] [--seconds 5] [--rounds 3] [--pairs 5] [--writers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import psycopg
from processes import free_port, maytrain
from revocation_bench import POLICY, WAIT, percentile, record_of, throwaway_database, until_denied

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from sidecar.core.model import Effect
from sidecar.store import AccountRequest, ConsentRequest, open_store

TARGET_P99_MS = 100.0
TARGET_WRITE_SHARE = 0.95
TAIL_MS = 300.0  # a revocation this slow is shown sidecar by sidecar


class Fleet:
    """Processes of one setup: sidecars (polled), and the relay when there is one."""

    def __init__(self, commands: list[list[str]], workdir: Path, name: str,
                 relay: list[str] | None = None) -> None:
        self.addresses = [f"127.0.0.1:{free_port()}" for _ in commands]
        self.logs, self.processes = [], []
        self._relay, self._relay_log = relay, workdir / f"{name}-relay.log"
        if relay is not None:
            self._start(relay, self._relay_log)
        self.relayed = relay is not None
        for i, (command, address) in enumerate(zip(commands, self.addresses, strict=True)):
            self._start([*command, "--listen", address, "--workers", "1"],
                        workdir / f"{name}-{i}.log")
        self.channels = [grpc.insecure_channel(a) for a in self.addresses]
        self.stubs = [pb_grpc.ConsentCheckServiceStub(ch) for ch in self.channels]

    def _start(self, command: list[str], log: Path) -> None:
        out = log.open("w")
        self.logs.append(out)
        self.processes.append(subprocess.Popen(["nice", "-n", "19", *maytrain(), *command],
                                               stdout=out, stderr=subprocess.STDOUT))

    def wait_serving(self, timeout: float = 120) -> None:
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

    @property
    def sidecars(self) -> list[subprocess.Popen]:
        return self.processes[1:] if self.relayed else self.processes

    def pause(self, paused: bool) -> None:
        """Stop (SIGSTOP) or continue the sidecars; the relay runs on."""
        for process in self.sidecars:
            process.send_signal(signal.SIGSTOP if paused else signal.SIGCONT)

    @property
    def relay_running(self) -> bool:
        return self.relayed and self.processes[0].poll() is None

    def restart_relay(self, running: bool) -> None:
        """Stop the relay (its store connections close with it) or start it again."""
        relay = self.processes[0]
        if not running:
            relay.terminate()
            relay.wait(timeout=20)
            return
        out = self._relay_log.open("a")
        self.logs.append(out)
        self.processes[0] = subprocess.Popen(["nice", "-n", "19", *maytrain(), *self._relay],
                                             stdout=out, stderr=subprocess.STDOUT)

    def wait_caught_up(self, version: int, timeout: float = 120) -> None:
        """Until every sidecar's cache is at `version` (after a burst of writes)."""
        deadline = time.monotonic() + timeout
        for stub in self.stubs:
            while stub.GetStatus(pb.GetStatusRequest(), timeout=5).consent_version < version:
                if time.monotonic() > deadline:
                    raise SystemExit("the sidecars did not catch up; see their logs")
                time.sleep(0.05)

    def renice(self, niceness: int) -> bool:
        """Run every process of the setup at `niceness` (lowering it needs root)."""
        try:
            for process in self.processes:
                os.setpriority(os.PRIO_PROCESS, process.pid, niceness)
        except PermissionError:
            return False
        return True

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


def connections(url: str) -> int:
    """Connections to the store's database other than this process's own."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                           "current_database() AND pid <> pg_backend_pid() AND "
                           "application_name <> 'fanout-bench'").fetchone()
    return int(row[0])


def write_rate(url: str, accounts: list[str], seconds: float, writers: int) -> float:
    """Commits per second of `writers` threads writing opt-outs for `seconds`, without
    waiting for the WAL flush (synchronous_commit off, for these sessions only): on a shared
    machine the disk's flush time would hide what the server does per commit."""
    counts = [0] * writers
    stop = threading.Event()

    def write(i: int) -> None:
        with open_store(_named(url, "&options=-c%20synchronous_commit%3Doff"),
                        policy=POLICY) as store:
            n = 0
            while not stop.is_set():
                account = accounts[(i + n * writers) % len(accounts)]
                store.record_consent(ConsentRequest(account, "customer_content", "ai",
                                                    Effect.OPT_OUT), actor="bench")
                n += 1
            counts[i] = n

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def _named(url: str, extra: str = "") -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}application_name=fanout-bench{extra}"


def propagation(store, stubs, accounts: list[str], deadline: float,
                tails: list[list[float]] | None = None) -> list[float]:
    """Seconds from each opt-out's write until every sidecar denies; each revocation that
    some sidecar took TAIL_MS or more to deny adds its per-sidecar times to `tails` (one
    sidecar late, or all of them: a follower's delay, or the relay's?), then the write's."""
    results = []
    for account in accounts:
        if time.monotonic() > deadline:
            print(f"  stopped early after {len(results)} revocations (--max-seconds)")
            break
        started = time.perf_counter()
        store.record_consent(ConsentRequest(account, "service_generated", "ai", Effect.OPT_OUT),
                             actor="bench")
        written = time.perf_counter() - started
        each = until_denied(stubs, record_of(account), started)
        results.append(max(each))
        if tails is not None and max(each) * 1e3 >= TAIL_MS:
            tails.append([*each, written])
        time.sleep(0.01)
    return results


def delete_stream(nats_url: str, stream: str) -> None:
    import nats

    async def delete() -> None:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        for name in (stream, f"OBJ_{stream}-snapshot"):
            with contextlib.suppress(Exception):  # absent already
                await js.delete_stream(name)
        await nc.close()

    asyncio.run(delete())


def setups(url: str, nats_url: str, stream: str, count: int) -> dict:
    """name -> (sidecar commands, relay command or None)."""
    follow = ["serve", "--follow", nats_url, "--stream", stream]
    return {
        "none": ([], None),
        "postgres": ([["serve", "--store", url, "--sync-interval", "30"]] * count, None),
        "nats": ([follow] * count, ["relay", "--store", url, "--nats", nats_url, "--stream",
                                    stream, "--sync-interval", "30"]),
    }


def run(args: argparse.Namespace, url: str, workdir: Path) -> dict:
    stream = f"bench-{os.getpid()}-{secrets.token_hex(3)}"
    deadline = time.monotonic() + args.max_seconds
    figures: dict[str, dict] = {}
    with open_store(_named(url), create=True, policy=POLICY) as store:
        accounts = [f"acct-{i}" for i in range(max(args.revocations * 3, 200))]
        store.write([AccountRequest(a, "US") for a in accounts], actor="bench")
        try:
            for name, (commands, relay) in setups(url, args.nats, stream, args.sidecars).items():
                figures[name] = measure(args, url, store, accounts, Fleet(
                    commands, workdir, name, relay), name, deadline)
        finally:
            delete_stream(args.nats, stream)
    return figures


def measure(args, url: str, store, accounts: list[str], fleet: Fleet, name: str,
            deadline: float) -> dict:
    try:
        fleet.wait_serving()
        time.sleep(1.0)  # listening (or consuming) by now
        held = connections(url)
        rates = [write_rate(url, accounts, args.seconds, args.writers) for _ in range(args.rounds)]
        paused: list[tuple[float, float]] = []
        if fleet.relayed:  # the followers' CPU aside: what the relay alone costs the store
            paused = relay_pairs(args, url, store, accounts, fleet)
        share = accounts[: args.revocations] if name == "postgres" else \
            accounts[args.revocations: 2 * args.revocations]
        if not fleet.renice(0):
            print("  (not root: propagation measured with the followers at nice 19)")
        fleet.wait_caught_up(store.version())
        tails: list[list[float]] = []
        times = propagation(store, fleet.stubs, share, deadline, tails) if fleet.stubs else []
        return {"connections": held, "write_rates": rates, "paused_rates": paused,
                "propagation": times, "tails": tails}
    finally:
        fleet.close()


def relay_pairs(args, url: str, store, accounts: list[str],
                fleet: Fleet) -> list[tuple[float, float]]:
    """(rate with the relay, rate without it) in pairs of rounds back to back, the
    followers paused: on a machine whose speed drifts from minute to minute, only rounds
    this close together compare. Which goes first alternates, so a drift within a pair
    favours neither."""
    pairs = []
    for i in range(args.pairs):
        rates = {}
        for running in ((True, False) if i % 2 == 0 else (False, True)):
            if running != fleet.relay_running:
                fleet.restart_relay(running)
            if running:  # caught up first: a relay's catching up is not its steady cost
                fleet.wait_caught_up(store.version())
            fleet.pause(True)
            rates[running] = write_rate(url, accounts, args.seconds, args.writers)
            fleet.pause(False)
        pairs.append((rates[True], rates[False]))
    if not fleet.relay_running:
        fleet.restart_relay(True)
    return pairs


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1e3:7.1f} ms" if values else "      -   "


def relay_share(pairs: list[tuple[float, float]]) -> float:
    """The median over pairs of rounds of the write rate with the relay to the rate
    without it."""
    ratios = sorted(with_relay / without for with_relay, without in pairs)
    return ratios[len(ratios) // 2] if ratios else 0.0


def report(figures: dict, count: int) -> bool:
    none = max(figures["none"]["write_rates"])
    print(f"{'setup':30} {'writes/s (best of rounds)':>26} {'vs none':>8} {'PG conns':>9} "
          f"{'all ' + str(count) + ' deny p50':>14} {'p99':>10}")
    for name, label in (("none", "no followers"), ("postgres", f"{count} sidecars LISTENing"),
                        ("nats", f"relay + {count} NATS followers")):
        f = figures[name]
        rate = max(f["write_rates"])
        print(f"{label:30} {rate:26.0f} {rate / none:8.2f} {f['connections']:9d} "
              f"{ms(f['propagation'], 50):>14} {ms(f['propagation'], 99):>10}")
        for *each, written in f["tails"]:
            slow = sorted(t * 1e3 for t in each if t * 1e3 >= TAIL_MS)
            rest = max((t * 1e3 for t in each if t * 1e3 < TAIL_MS), default=0.0)
            print(f"  ... {len(slow)} of {count} sidecars took " + " ".join(
                f"{t:.0f}" for t in slow) + f" ms, the others at most {rest:.0f} ms "
                f"(the write itself {written * 1e3:.0f} ms)")
        for with_relay, without in f["paused_rates"]:
            print(f"{'  ... followers paused':30} {with_relay:26.0f} {with_relay / without:8.2f}"
                  f"   of {without:.0f} with the relay stopped just before or after")
    nats = figures["nats"]
    lost = sum(1 for t in nats["propagation"] if t == float("inf"))
    p99_ok = bool(nats["propagation"]) and not lost and \
        percentile(nats["propagation"], 99) * 1e3 < TARGET_P99_MS
    share = relay_share(nats["paused_rates"])
    rate_ok = share >= TARGET_WRITE_SHARE
    print(f"target: NATS propagation p99 under {TARGET_P99_MS:.0f} ms: "
          f"{'met' if p99_ok else 'MISSED'}" + (f" ({lost} not within {WAIT:.0f} s)" if lost else ""))
    print(f"target: write rate with the relay (followers paused) within 5% of none: "
          f"{'met' if rate_ok else 'MISSED'} (median of {len(nats['paused_rates'])} pairs "
          f"{share:.2f})")
    return p99_ok and rate_ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("MAYTRAIN_TEST_POSTGRES_URL"))
    parser.add_argument("--nats", default=os.environ.get("MAYTRAIN_TEST_NATS_URL",
                                                         "nats://127.0.0.1:4222"))
    parser.add_argument("--sidecars", type=int, default=20)
    parser.add_argument("--revocations", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0, help="per write-rate round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=5,
                        help="pairs of rounds with and without the relay (followers paused)")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--logs", metavar="DIR", help="keep every process's log here")
    args = parser.parse_args()
    if not args.url:
        parser.error("no server: pass --url or set MAYTRAIN_TEST_POSTGRES_URL")
    with throwaway_database(args.url) as url, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.logs or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        figures = run(args, url, workdir)
    return 0 if report(figures, args.sidecars) else 1


if __name__ == "__main__":
    sys.exit(main())
