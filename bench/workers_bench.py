"""Workers benchmark: `maytrain serve --workers 1` against `--workers 2`, under one load.

Each server gets its own load generators (bench/load_client.py): several processes, each
with several connections and calls in flight, sending one pre-serialized request of
10,000 "pipeline" records (see workload.py) and leaving the replies as bytes. Rounds
alternate between the servers; reported are the median records/s of each, the median of
the per-round ratios, and the cores each side used. On a machine with as many cores as
workers the load generators compete with the server for them: their share is reported.
Target: --workers 2 at least 1.4x the records/s of --workers 1.

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
            seconds: float, clients: int, channels: int, depth: int) -> dict:
    """Both servers under the same load, in alternating rounds."""
    servers = {n: sidecar_server(store, "--workers", str(n)) for n in WORKERS}
    loads: dict[int, Load] = {}
    try:
        for n, server in servers.items():
            server.wait_serving()
            loads[n] = Load(server.address, rpc, payload, records, clients, channels, depth)
        rows: dict[int, list[dict]] = {n: [] for n in WORKERS}
        for turn in range(rounds):
            for n in WORKERS if turn % 2 == 0 else reversed(WORKERS):
                rows[n].append(one_round(servers[n], loads[n], seconds))
    finally:
        for load in loads.values():
            load.stop()
        for server in servers.values():
            server.stop()
    spread = {n: sorted(load.connections.values(), reverse=True) for n, load in loads.items()}
    return summary(rows, rpc, records, spread)


def summary(rows: dict[int, list[dict]], rpc: str, records: int,
            spread: dict[int, list[int]]) -> dict:
    out: dict = {"rpc": rpc, "records_per_call": records, "target": TARGET, "rounds": rows,
                 "connections_per_worker": spread}
    for n, figures in rows.items():
        out[f"workers_{n}"] = {key: statistics.median(f[key] for f in figures)
                               for key in ("rps", "server_cores", "client_cores", "failed")}
    out["ratio"] = statistics.median(two["rps"] / one["rps"]
                                     for one, two in zip(rows[1], rows[2], strict=True))
    return out


def run(accounts: int = 10_000, rounds: int = 3, seconds: float = 4.0, clients: int = 2,
        channels: int = 4, depth: int = 2, rpcs: tuple[str, ...] = ("CheckColumns",),
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
                                   clients=clients, channels=channels, depth=depth))
    return {"clients": clients, "channels_per_client": channels, "calls_in_flight":
            clients * channels * depth, "seconds_per_round": seconds, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes")
    parser.add_argument("--channels", type=int, default=4, help="connections per generator")
    parser.add_argument("--depth", type=int, default=2, help="calls in flight per connection")
    parser.add_argument("--rpcs", default="CheckColumns")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.accounts, args.rounds, args.seconds, args.clients, args.channels,
                 args.depth, tuple(args.rpcs.split(",")))
    if args.json or "not_measured" in result:
        print(json.dumps(result, indent=1))
        return
    for r in result["results"]:
        one, two = r["workers_1"], r["workers_2"]
        print(f"{r['rpc']} {r['records_per_call']:,} records: --workers 1 {one['rps']:,.0f} "
              f"rec/s ({one['server_cores']:.2f} cores, load {one['client_cores']:.2f}) | "
              f"--workers 2 {two['rps']:,.0f} rec/s ({two['server_cores']:.2f} cores, load "
              f"{two['client_cores']:.2f}) | {r['ratio']:.2f}x (target >= {TARGET}x)")


if __name__ == "__main__":
    main()
