"""gRPC benchmark: the real sidecar beside a do-nothing server, in one run, as ratios.

Both run as separate processes on this machine; this process is the client. Reported:
unary Check latency (p50/p99) and CheckBatch throughput (records/s) at 1, 100, 1,000 and
10,000 records per call. Targets: Check p50 within 1.5x of the floor; CheckBatch at
10,000 records at least half the floor's rate.

Batches are drawn two ways, both reported: "pipeline" batches, whose records come from
100 accounts (one ingestion job's batch spans few tenants; every record still has its
own collected_at), and "scattered" batches over every account, where almost every record
has a key of its own and gets a full decision.

    python bench/grpc_bench.py [--accounts N] [--calls N] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from processes import free_port, maytrain

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2

HERE = Path(__file__).parent
CATEGORIES = ["service_generated.usage", "service_generated.telemetry",
              "customer_content.chat", "customer_content.document", "customer_content.audio"]


def make_store(workdir: Path, accounts: int) -> str:
    """A SQLite store with `accounts` accounts, most with a content grant."""
    lines = []
    for n in range(accounts):
        lines.append({"type": "account", "account": f"acct-{n}", "region": "US"})
        if n % 4:
            lines.append({"type": "grant", "account": f"acct-{n}",
                          "category": "customer_content", "purpose": "ai",
                          "valid_from": "2022-01-01T00:00:00Z"})
    path = workdir / "bench.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    store = f"sqlite:///{workdir / 'bench.db'}"
    subprocess.run([*maytrain(), "store", "init", "--store", store], check=True,
                   capture_output=True)
    subprocess.run([*maytrain(), "import", str(path), "--store", store], check=True,
                   capture_output=True)
    return store


def records(count: int, accounts: list[int], rng: random.Random) -> list[consent_pb2.Record]:
    out = []
    for i in range(count):
        rec = consent_pb2.Record(record_id=f"r{i}", account_id=f"acct-{rng.choice(accounts)}",
                                 data_category=rng.choice(CATEGORIES), purpose="ai.training")
        rec.collected_at.FromSeconds(1_700_000_000 + rng.randrange(10**8))
        out.append(rec)
    return out


def wait_ready(stub: pb_grpc.ConsentCheckServiceStub, sample: consent_pb2.Record) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            stub.Check(pb.CheckRequest(record=sample), timeout=1)
            return
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def unary_latency(stub, pool, calls: int) -> tuple[float, float]:
    times = []
    for i in range(calls):
        request = pb.CheckRequest(record=pool[i % len(pool)])
        start = time.perf_counter()
        stub.Check(request, timeout=5)
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times) * 1e3, times[int(len(times) * 0.99) - 1] * 1e3


def batch_rate(stub, pool, size: int, seconds: float) -> float:
    request = pb.CheckBatchRequest(records=pool[:size])
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        stub.CheckBatch(request, timeout=30)
        done += size
    return done / (time.perf_counter() - start)


def measure(address: str, pools: dict, calls: int, seconds: float) -> dict:
    with grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 64 << 20)]) as channel:
        stub = pb_grpc.ConsentCheckServiceStub(channel)
        pool = pools["scattered"]
        wait_ready(stub, pool[0])
        unary_latency(stub, pool, 200)  # warm up
        p50, p99 = unary_latency(stub, pool, calls)
        rates = {(name, size): batch_rate(stub, records, size, seconds)
                 for name, records in pools.items() for size in (1, 100, 1000, 10000)}
    return {"p50": p50, "p99": p99, "rates": rates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    rng = random.Random(1)
    pools = {"pipeline": records(10_000, rng.sample(range(args.accounts), 100), rng),
             "scattered": records(10_000, list(range(args.accounts)), rng)}
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp), args.accounts)
        floor_addr, sidecar_addr = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        servers = [subprocess.Popen([sys.executable, str(HERE / "floor_server.py"), floor_addr]),
                   subprocess.Popen([*maytrain(), "serve", "--store", store, "--listen",
                                     sidecar_addr], stderr=subprocess.DEVNULL)]
        try:
            floor = measure(floor_addr, pools, args.calls, args.seconds)
            sidecar = measure(sidecar_addr, pools, args.calls, args.seconds)
        finally:
            for server in servers:
                server.terminate()
                server.wait()
    report(floor, sidecar)


def report(floor: dict, sidecar: dict) -> None:
    print(f"Check latency      floor p50 {floor['p50']:.3f} ms p99 {floor['p99']:.3f} ms | "
          f"sidecar p50 {sidecar['p50']:.3f} ms p99 {sidecar['p99']:.3f} ms | "
          f"p50 ratio {sidecar['p50'] / floor['p50']:.2f}x (target <= 1.5x)")
    for (name, size), rate in sidecar["rates"].items():
        base = floor["rates"][(name, size)]
        print(f"CheckBatch {name:9} {size:>6}  floor {base:>10,.0f} rec/s | sidecar "
              f"{rate:>10,.0f} rec/s | {rate / base:.2f} of floor"
              + (" (target >= 0.5)" if size == 10000 else ""))


if __name__ == "__main__":
    main()
