"""Workers benchmark: `maytrain serve --workers 1` against `--workers 2`, under one load.

Each server gets its own load generators (bench/load_client.py): two processes, each
with one or more connections and calls in flight, sending one pre-serialized request of
10,000 "pipeline" records (see workload.py) and leaving the replies as bytes. Each load
(2, 8 and 32 calls in flight over 2, 8 and 16 connections) runs in rounds alternating
between the servers; reported are each server's median records/s and cores used, the
generators' cores (on a machine with as many cores as workers they compete with the
server), and how the kernel spread the connections over the workers (SO_REUSEPORT
hashes them: few connections can land unevenly). The headline compares each server at
the load that suits it best. Target: --workers 2 at least 1.4x the records/s of
--workers 1.

    python bench/workers_bench.py [--accounts N] [--rounds N] [--seconds S] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grpc_bench import Server, sidecar_server
from processes import workers_available
from workload import SHAPES, batch_payload, make_store, pools

HERE = Path(__file__).parent
WORKERS = (1, 2)
TARGET = 1.4
LOADS = ((1, 1), (4, 1), (8, 2))  # (connections per generator, calls in flight on each)


class Load:
    """The load-generator processes aimed at one server, connected and warmed up."""

    def __init__(self, address: str, rpc: str, payload: Path, records: int, clients: int,
                 channels: int, depth: int) -> None:
        self.processes = [subprocess.Popen(
            [sys.executable, str(HERE / "load_client.py"), address, rpc, str(payload),
             "--records", str(records), "--channels", str(channels), "--depth", str(depth)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(clients)]
        self.connections: dict[int, int] = {}  # worker -> connections it serves
        for process in self.processes:
            word, _, workers = process.stdout.readline().partition(" ")
            if word != "ready":
                raise SystemExit(f"a load generator for {address} did not start")
            for worker in json.loads(workers):
                self.connections[worker] = self.connections.get(worker, 0) + 1

    def run(self, seconds: float) -> dict:
        """Every generator for `seconds` from one start: records, and their CPU seconds."""
        start = time.time() + 0.3
        for process in self.processes:
            process.stdin.write(f"{start} {seconds}\n")
            process.stdin.flush()
        results = [json.loads(process.stdout.readline()) for process in self.processes]
        return {key: sum(r[key] for r in results) for key in ("records", "failed", "cpu_s")}

    def stop(self) -> None:
        for process in self.processes:
            process.stdin.close()
            process.wait(30)


def one_round(server: Server, load: Load, seconds: float) -> dict:
    """A round of load on one server: records/s, and the cores it and its load used."""
    before = server.cpu()
    done = load.run(seconds)
    return {"rps": done["records"] / seconds, "server_cores": (server.cpu() - before) / seconds,
            "client_cores": done["cpu_s"] / seconds, "failed": done["failed"]}


def measure(store: str, payload: Path, rpc: str, records: int, *, rounds: int,
            seconds: float, clients: int, loads: tuple[tuple[int, int], ...]) -> dict:
    """Both servers under each load, in alternating rounds."""
    servers = {n: sidecar_server(store, "--workers", str(n)) for n in WORKERS}
    try:
        for server in servers.values():
            server.wait_serving()
        return summary([one_load(servers, payload, rpc, records, rounds, seconds, clients,
                                 channels, depth) for channels, depth in loads], rpc, records)
    finally:
        for server in servers.values():
            server.stop()


def one_load(servers: dict[int, Server], payload: Path, rpc: str, records: int, rounds: int,
             seconds: float, clients: int, channels: int, depth: int) -> dict:
    """Both servers under one load: the median of each figure, the median ratio."""
    loads = {n: Load(s.address, rpc, payload, records, clients, channels, depth)
             for n, s in servers.items()}
    rows: dict[int, list[dict]] = {n: [] for n in WORKERS}
    try:
        for turn in range(rounds):
            for n in WORKERS if turn % 2 == 0 else reversed(WORKERS):
                rows[n].append(one_round(servers[n], loads[n], seconds))
    finally:
        for load in loads.values():
            load.stop()
    out: dict = {"calls_in_flight": clients * channels * depth, "connections": clients * channels,
                 "connections_per_worker": {n: sorted(load.connections.values(), reverse=True)
                                            for n, load in loads.items()}, "rounds": rows}
    for n, figures in rows.items():
        out[f"workers_{n}"] = {key: statistics.median(f[key] for f in figures)
                               for key in ("rps", "server_cores", "client_cores", "failed")}
    out["ratio"] = statistics.median(two["rps"] / one["rps"]
                                     for one, two in zip(rows[1], rows[2], strict=True))
    return out


def summary(loads: list[dict], rpc: str, records: int) -> dict:
    """The headline: each server at the load that suits it best, and the ratio of those."""
    best = {n: max(loads, key=lambda load: load[f"workers_{n}"]["rps"]) for n in WORKERS}
    out: dict = {"rpc": rpc, "records_per_call": records, "target": TARGET, "loads": loads}
    for n in WORKERS:
        out[f"workers_{n}"] = {**best[n][f"workers_{n}"],
                               "calls_in_flight": best[n]["calls_in_flight"]}
    out["ratio"] = out["workers_2"]["rps"] / out["workers_1"]["rps"]
    return out


def run(accounts: int = 10_000, rounds: int = 3, seconds: float = 3.0, clients: int = 2,
        loads: tuple[tuple[int, int], ...] = LOADS, rpcs: tuple[str, ...] = ("CheckColumns",),
        size: int = 10_000) -> dict:
    """The comparison for each RPC, or why it was not measured."""
    if not workers_available():
        return {"not_measured": "--workers not available"}
    batch = pools(accounts)[SHAPES[0]][:size]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp), accounts)
        for rpc in rpcs:
            payload = Path(tmp) / f"{rpc}.bin"
            payload.write_bytes(batch_payload(rpc, batch))
            results.append(measure(store, payload, rpc, size, rounds=rounds, seconds=seconds,
                                   clients=clients, loads=loads))
    return {"clients": clients, "seconds_per_round": seconds, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes")
    parser.add_argument("--loads", default=",".join(f"{c}x{d}" for c, d in LOADS),
                        help="connections per generator x calls in flight per connection, ...")
    parser.add_argument("--rpcs", default="CheckColumns")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    loads = tuple(tuple(int(n) for n in load.split("x")) for load in args.loads.split(","))
    result = run(args.accounts, args.rounds, args.seconds, args.clients, loads,  # type: ignore[arg-type]
                 tuple(args.rpcs.split(",")))
    if args.json or "not_measured" in result:
        print(json.dumps(result, indent=1))
        return
    for r in result["results"]:
        for load in r["loads"]:
            one, two = load["workers_1"], load["workers_2"]
            print(f"{r['rpc']} {r['records_per_call']:,} records, {load['calls_in_flight']:>2} "
                  f"in flight: --workers 1 {one['rps']:>10,.0f} rec/s ({one['server_cores']:.2f} "
                  f"cores, load {one['client_cores']:.2f}) | --workers 2 {two['rps']:>10,.0f} "
                  f"rec/s ({two['server_cores']:.2f} cores, load {two['client_cores']:.2f}) | "
                  f"{load['ratio']:.2f}x")
        print(f"{r['rpc']}: best of each {r['ratio']:.2f}x (target >= {TARGET}x)")


if __name__ == "__main__":
    main()
