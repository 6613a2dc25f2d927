"""gRPC benchmark: the real sidecar beside a do-nothing server, in one run, as ratios.

Both run as separate processes on this machine; this process is the client. It sends
requests serialized before timing starts and takes the replies as bytes (each reply shape
is parsed and checked once, before timing), so its own work per call stays small and
equal for both servers. One call is in flight at a time (a stream keeps two messages in
flight). Measured: unary Check latency (p50/p99, calls alternating between the servers one
by one), and CheckBatch, CheckStream and
CheckColumns throughput (records/s) at 100, 1,000 and 10,000 records per call, for
"pipeline" and "scattered" batches (see workload.py). Each figure is measured in rounds
that alternate floor and sidecar, so a change in the machine's load falls on both alike;
reported are medians, and the median of the per-round ratios.

    python bench/grpc_bench.py [--accounts N] [--rounds N] [--seconds S] [--sizes ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from processes import cpu_seconds, free_port, maytrain, workers_available
from workload import (
    BATCH_RPCS,
    SERVICE,
    SHAPES,
    answered,
    batch_payload,
    check_payloads,
    make_store,
    pools,
    records,
)

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2

__all__ = ["batch_run", "free_port", "make_store", "maytrain", "records", "wait_ready"]
HERE = Path(__file__).parent
SIZES = (100, 1_000, 10_000)
OPTIONS = [("grpc.max_receive_message_length", 64 << 20),
           ("grpc.max_send_message_length", 64 << 20)]
TARGETS = {"check_p50": 1.2, "check_p99": 1.5, ("CheckBatch", "pipeline", 10_000): 0.7,
           ("CheckColumns", "pipeline", 10_000): 0.6, ("CheckColumns", "scattered", 10_000): 0.6}


class Server:
    """A server process on a loopback port, and raw (bytes in, bytes out) methods on it."""

    def __init__(self, name: str, command: Callable[[str], list[str]]) -> None:
        self.name, self.address = name, f"127.0.0.1:{free_port()}"
        self.process = subprocess.Popen(command(self.address), stderr=subprocess.DEVNULL)
        self.channel = grpc.insecure_channel(self.address, options=OPTIONS)

    def unary(self, rpc: str) -> grpc.UnaryUnaryMultiCallable:
        return self.channel.unary_unary(f"/{SERVICE}/{rpc}", request_serializer=None,
                                        response_deserializer=None)

    def stream(self) -> grpc.StreamStreamMultiCallable:
        return self.channel.stream_stream(f"/{SERVICE}/CheckStream", request_serializer=None,
                                          response_deserializer=None)

    def wait_serving(self, timeout: float = 120) -> None:
        stub, deadline = pb_grpc.ConsentCheckServiceStub(self.channel), time.monotonic() + timeout
        while True:
            try:
                if stub.GetStatus(pb.GetStatusRequest(), timeout=1).serving:
                    return
            except grpc.RpcError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid) or 0.0

    def stop(self) -> None:
        self.channel.close()
        self.process.terminate()
        self.process.wait(30)


def floor_server() -> Server:
    return Server("floor", lambda address: [sys.executable, str(HERE / "floor_server.py"),
                                            address])


def sidecar_server(store: str, *extra: str) -> Server:
    return Server("sidecar", lambda address: [*maytrain(), "serve", "--store", store,
                                              "--listen", address, *extra])


def latencies(call: Callable, payloads: list[bytes], calls: int) -> list[float]:
    """Seconds per unary call, `calls` calls through the payloads in turn."""
    times, clock = [], time.perf_counter
    for i in range(calls):
        payload = payloads[i % len(payloads)]
        start = clock()
        call(payload, timeout=5)
        times.append(clock() - start)
    return times


def call_rate(call: Callable, payload: bytes, size: int, seconds: float) -> float:
    """Records per second of back-to-back unary calls carrying `size` records each."""
    done, start, clock = 0, time.perf_counter(), time.perf_counter
    while clock() - start < seconds:
        call(payload, timeout=60)
        done += size
    return done / (clock() - start)


def stream_rate(open_stream: Callable, payload: bytes, size: int, seconds: float,
                window: int = 2) -> float:
    """Records per second of one CheckStream call keeping `window` messages in flight."""
    credits, stop = threading.Semaphore(window), threading.Event()

    def requests():
        while True:
            credits.acquire()
            if stop.is_set():
                return
            yield payload

    replies = open_stream(requests(), timeout=seconds + 120)
    done, start = 0, time.perf_counter()
    for _ in replies:
        done += size
        if time.perf_counter() - start >= seconds:
            break
        credits.release()
    elapsed = time.perf_counter() - start
    stop.set()
    credits.release()
    for _ in replies:  # drain what was in flight; the stream ends when requests() does
        pass
    return done / elapsed


def first_reply(server: Server, rpc: str, payload: bytes) -> bytes:
    """One reply of `rpc`, as bytes (the check before timing, and a warm-up)."""
    if rpc == "CheckStream":
        return next(iter(server.stream()(iter([payload]), timeout=60)))
    return server.unary(rpc)(payload, timeout=60)


def alternate(servers: tuple[Server, Server], measure: Callable[[Server], float],
              rounds: int) -> dict[str, list[float]]:
    """Each server's figure and CPU seconds spent, `rounds` times, floor and sidecar in turn."""
    figures: dict[str, list[float]] = {f"{s.name}{k}": [] for s in servers for k in ("", "_cpu")}
    for turn in range(rounds):
        for server in servers if turn % 2 == 0 else reversed(servers):
            before = server.cpu()
            figures[server.name].append(measure(server))
            figures[f"{server.name}_cpu"].append(server.cpu() - before)
        time.sleep(0.05)
    return figures


def unary_check(servers, payloads: list[bytes], calls: int) -> dict:
    """Check latency of both servers: p50 and p99 in ms, and their ratios. Calls alternate
    between the servers one by one, so that both see the same moments of the machine."""
    methods = {s.name: s.unary("Check") for s in servers}
    for method in methods.values():
        latencies(method, payloads, 300)  # warm up
    samples: dict[str, list[float]] = {name: [] for name in methods}
    clock, order = time.perf_counter, list(methods.items())
    for i in range(calls):
        payload = payloads[i % len(payloads)]
        for name, method in order if i % 2 == 0 else reversed(order):
            start = clock()
            method(payload, timeout=5)
            samples[name].append(clock() - start)
    out: dict = {}
    for name, times in samples.items():
        times.sort()
        out[name] = {"p50_ms": statistics.median(times) * 1e3,
                     "p99_ms": times[int(len(times) * 0.99) - 1] * 1e3, "calls": len(times)}
    for p in ("p50", "p99"):
        out[f"{p}_ratio"] = out["sidecar"][f"{p}_ms"] / out["floor"][f"{p}_ms"]
        out[f"{p}_target"] = TARGETS[f"check_{p}"]
    return out


def batch_cell(servers, rpc: str, shape: str, size: int, pool: list, rounds: int,
               seconds: float) -> dict:
    """One RPC at one batch size and shape: both servers' records/s and their ratio."""
    payload = batch_payload(rpc, pool[:size])
    cell: dict = {"rpc": rpc, "shape": shape, "size": size, "request_bytes": len(payload),
                  "distinct_keys": len({(r.account_id, r.user_id, r.data_category, r.purpose)
                                        for r in pool[:size]}),
                  "target": TARGETS.get((rpc, shape, size))}
    allowed = {}
    for server in servers:
        try:
            count, allowed[server.name] = answered(rpc, first_reply(server, rpc, payload))
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
            return {**cell, "not_measured": f"the {server.name} does not serve {rpc}"}
        assert count == size, f"{server.name} answered {count} of {size} records ({rpc})"

    def measure(server: Server) -> float:
        if rpc == "CheckStream":
            return stream_rate(server.stream(), payload, size, seconds)
        return call_rate(server.unary(rpc), payload, size, seconds)

    figures = alternate(servers, measure, rounds)
    ratios = [s / f for s, f in zip(figures["sidecar"], figures["floor"], strict=True)]
    cell.update(ratio=statistics.median(ratios), ratios=ratios,
                sidecar_allowed_share=allowed["sidecar"] / size)
    for name in ("floor", "sidecar"):
        rates, cpu = figures[name], figures[f"{name}_cpu"]
        cell[f"{name}_rps"] = statistics.median(rates)
        cell[f"{name}_cpu_us_per_record"] = statistics.median(
            c / (r * seconds) * 1e6 for c, r in zip(cpu, rates, strict=True))
    return cell


def run(accounts: int = 10_000, rounds: int = 3, seconds: float = 1.0, calls: int = 5000,
        sizes: tuple[int, ...] = SIZES, rpcs: tuple[str, ...] = BATCH_RPCS,
        progress: Callable[[str], None] = lambda line: None) -> dict:
    """Every figure of this benchmark, as a dict (see report.py for its shape)."""
    batches = pools(accounts)
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp), accounts)
        # One serving process, like the floor: one call is in flight at a time anyway.
        one = ("--workers", "1") if workers_available() else ()
        servers = (floor_server(), sidecar_server(store, *one))
        try:
            for server in servers:
                server.wait_serving()
            unary = unary_check(servers, check_payloads(batches["scattered"]), calls)
            progress(f"Check p50 ratio {unary['p50_ratio']:.2f}, p99 {unary['p99_ratio']:.2f}")
            cells = []
            for rpc in rpcs:
                for shape in SHAPES:
                    for size in sizes:
                        cells.append(batch_cell(servers, rpc, shape, size, batches[shape],
                                                rounds, seconds))
                        progress(_cell_line(cells[-1]))
        finally:
            for server in servers:
                server.stop()
    return {"accounts": accounts, "rounds": rounds, "seconds_per_round": seconds,
            "unary": unary, "batches": cells}


def _cell_line(cell: dict) -> str:
    if "not_measured" in cell:
        return f"{cell['rpc']:12} {cell['shape']:9} {cell['size']:>6}  not measured: " \
               f"{cell['not_measured']}"
    target = f" (target >= {cell['target']})" if cell["target"] else ""
    return (f"{cell['rpc']:12} {cell['shape']:9} {cell['size']:>6}  floor "
            f"{cell['floor_rps']:>10,.0f} rec/s | sidecar {cell['sidecar_rps']:>10,.0f} rec/s | "
            f"{cell['ratio']:.2f} of floor{target}")


def wait_ready(stub: pb_grpc.ConsentCheckServiceStub, sample: consent_pb2.Record) -> None:
    """Block until a server answers Check (for benchmarks that use a stub)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            stub.Check(pb.CheckRequest(record=sample), timeout=1)
            return
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def batch_run(stub: pb_grpc.ConsentCheckServiceStub, pool: list, size: int,
              seconds: float) -> tuple[int, float]:
    """CheckBatch calls through a stub for `seconds` (parsing every reply): the records
    decided and the seconds it took."""
    request = pb.CheckBatchRequest(records=pool[:size])
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        stub.CheckBatch(request, timeout=30)
        done += size
    return done, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0, help="per round and server")
    parser.add_argument("--calls", type=int, default=5000, help="unary calls per server")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--rpcs", default=",".join(BATCH_RPCS))
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    result = run(args.accounts, args.rounds, args.seconds, args.calls,
                 tuple(int(s) for s in args.sizes.split(",")), tuple(args.rpcs.split(",")),
                 progress=lambda line: print(line, file=sys.stderr if args.json else sys.stdout,
                                             flush=True))
    if args.json:
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
