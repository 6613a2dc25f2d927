"""Observability benchmark: what metrics and decision receipts cost the hot path.

Four real `maytrain serve` processes on one store, side by side in one run: plain, with
--metrics-listen, with --receipts at sample 1.0, and with both. This process is the client;
it sends calls of 10,000 "pipeline" records (see grpc_bench.py), CheckBatch and CheckColumns
(what the Arrow and Spark clients send), to each server in turn, round after round, so that
a change in the machine's load falls on every server alike. Each round compares a server
with the plain one measured beside it; reported are the median rate and the median of those
per-round ratios. Targets (issue 16, on CheckBatch): metrics cost at most 5% of the plain
rate, receipts at most 10%. On Linux it also reports the server's CPU time per record (from
/proc), which a busy machine disturbs less than the rate, and, for each server with
receipts, how many of the decisions it made are in its spool once it has stopped: a writer
that fell behind and dropped receipts would look cheap, so a drop is reported beside the
rate.

    python bench/observability_bench.py [--accounts N] [--rounds N] [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_bench import free_port, make_store, maytrain, records, wait_ready
from processes import workers_available
from workload import batch_payload

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from sidecar.observability.receipts import spool_files
from sidecar.observability.receipts.lines import count_receipts
from sidecar.observability.receipts.spool import spool_directories

BATCH = 10_000
RPCS = ("CheckBatch", "CheckColumns")
TARGETS = {"metrics": 0.95, "receipts": 0.90}
TARGET_RPC = "CheckBatch"


SPOOLS = {"receipts": "receipts", "both": "receipts-both"}
_RPC = re.compile(rb'\{"time":"[^"]*","rpc":"([^"]*)"')  # how a spool line starts
SERVICE = pb.DESCRIPTOR.services_by_name["ConsentCheckService"].full_name


def configurations(workdir: Path) -> dict[str, list[str]]:
    """Extra `serve` flags of each server."""
    # A cap no run reaches: a receipt deleted to keep under it would read as dropped below.
    spool = ["--receipts-sample", "1.0", "--receipts-max-bytes", "16Gi",
             "--receipts-file-bytes", "64Mi"]
    return {
        "plain": [],
        "metrics": ["--metrics-listen", f"127.0.0.1:{free_port()}"],
        "receipts": ["--receipts", str(workdir / SPOOLS["receipts"]), *spool],
        "both": ["--metrics-listen", f"127.0.0.1:{free_port()}",
                 "--receipts", str(workdir / SPOOLS["both"]), *spool],
    }


def start(store: str, extra: list[str], one: list[str]) -> tuple[subprocess.Popen, str]:
    address = f"127.0.0.1:{free_port()}"
    # One serving process, as in grpc_bench.py: the CPU read below is that process's own
    # (with the default --workers its supervisor's, which serves nothing).
    process = subprocess.Popen([*maytrain(), "serve", "--store", store, "--listen", address,
                                *one, *extra], stderr=subprocess.DEVNULL)
    return process, address


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time of a process so far (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def calls_run(call, payload: bytes, seconds: float) -> tuple[int, float]:
    """Calls of one pre-serialized request for `seconds`: the calls made and the seconds."""
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        call(payload, timeout=30)
        done += 1
    return done, time.perf_counter() - start


def measure(servers: dict[str, tuple[subprocess.Popen, str]], pool: list, rounds: int,
            seconds: float, sent: dict[tuple[str, str], int]) -> tuple[dict, dict]:
    """Each server's rate and CPU seconds per record for each RPC, `rounds` times,
    interleaved; the records each was sent by RPC are added to `sent`."""
    payloads = {rpc: batch_payload(rpc, pool[:BATCH]) for rpc in RPCS}
    options = [("grpc.max_receive_message_length", 64 << 20)]
    channels = {name: grpc.insecure_channel(address, options=options)
                for name, (_, address) in servers.items()}
    calls = {(rpc, name): channel.unary_unary(f"/{SERVICE}/{rpc}")
             for name, channel in channels.items() for rpc in RPCS}
    try:
        for channel in channels.values():
            wait_ready(pb_grpc.ConsentCheckServiceStub(channel), pool[0])
        for (rpc, name), call in calls.items():  # warm up
            sent[rpc, name] += calls_run(call, payloads[rpc], 1.0)[0] * BATCH
        rates: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
        cpu: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
        for turn in range(rounds):
            for rpc in RPCS:
                order = list(servers) if turn % 2 == 0 else list(reversed(servers))
                for name in order:
                    pid = servers[name][0].pid
                    before = cpu_seconds(pid)
                    done, took = calls_run(calls[rpc, name], payloads[rpc], seconds)
                    after, rate = cpu_seconds(pid), done * BATCH / took
                    sent[rpc, name] += done * BATCH
                    rates[rpc, name].append(rate)
                    if before is not None and after is not None:
                        cpu[rpc, name].append((after - before) / (done * BATCH))
        return rates, cpu
    finally:
        for channel in channels.values():
            channel.close()


def run(accounts: int = 10_000, rounds: int = 5, seconds: float = 2.0) -> dict:
    """The figures: per RPC and server, its median rate, its ratio to plain, its CPU per
    record and, for a server with receipts, the decisions it was sent and spooled."""
    rng = random.Random(1)
    pool = records(BATCH, rng.sample(range(accounts), 100), rng)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        store = make_store(workdir, accounts)
        one = ["--workers", "1"] if workers_available() else []
        servers = {name: start(store, extra, one)
                   for name, extra in configurations(workdir).items()}
        sent = {(rpc, name): 0 for rpc in RPCS for name in servers}
        try:
            rates, cpu = measure(servers, pool, rounds, seconds, sent)
        finally:
            for process, _ in servers.values():
                process.terminate()  # the receipt writers write what they hold, and stop
                process.wait()
            time.sleep(0.1)
        spooled = {name: spooled_receipts(workdir / spool) for name, spool in SPOOLS.items()}
    figures: dict[str, dict] = {rpc: {} for rpc in RPCS}
    for (rpc, name), values in rates.items():
        plain = rates[rpc, "plain"]
        figure = {"rps": statistics.median(values), "rps_min": min(values),
                  "rps_max": max(values), "ratio": paired(values, plain),
                  "target": TARGETS.get(name) if rpc == TARGET_RPC else None}
        if cpu[rpc, name] and len(cpu[rpc, name]) == len(cpu[rpc, "plain"]):
            figure["cpu_us_per_record"] = statistics.median(cpu[rpc, name]) * 1e6
            figure["cpu_ratio"] = paired(cpu[rpc, "plain"], cpu[rpc, name])
        if name in spooled:
            figure["sent"], figure["spooled"] = sent[rpc, name], spooled[name].get(rpc, 0)
        figures[rpc][name] = figure
    return {"accounts": accounts, "records_per_call": BATCH, "rounds": rounds,
            "seconds_per_round": seconds, "target_rpc": TARGET_RPC, "rpcs": figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    report(run(args.accounts, args.rounds, args.seconds))


def spooled_receipts(spool: Path) -> dict[str, int]:
    """The receipts in a stopped sidecar's spool (every worker's), by RPC."""
    counts: dict[str, int] = {}
    for directory in spool_directories(spool):
        for path in spool_files(directory):
            with path.open("rb") as lines:
                for line in lines:
                    found = _RPC.match(line)
                    rpc = found[1].decode("ascii", "replace") if found else ""
                    counts[rpc] = counts.get(rpc, 0) + count_receipts(line)
    return counts


def paired(values: list[float], base: list[float]) -> float:
    """The median, over rounds, of a value relative to plain's in the same round."""
    return statistics.median(v / b for v, b in zip(values, base, strict=True))


def report(figures: dict) -> None:
    for rpc, servers in figures["rpcs"].items():
        for name, f in servers.items():
            target = f["target"]
            verdict = "" if target is None else (
                f" (target >= {target:.2f}: {'met' if f['ratio'] >= target else 'MISSED'})")
            line = (f"{rpc:12} {BATCH} records  {name:9} {f['rps']:>11,.0f} rec/s median "
                    f"[{f['rps_min']:,.0f}..{f['rps_max']:,.0f}] | {f['ratio']:.3f} of "
                    f"plain{verdict}")
            if "cpu_us_per_record" in f:
                line += (f" | CPU {f['cpu_us_per_record']:.2f} us/record, plain's "
                         f"rate x {f['cpu_ratio']:.3f}")
            print(line)
        for name, f in servers.items():
            if "sent" in f:
                missing = f["sent"] - f["spooled"]
                print(f"{rpc:12} receipts  {name:9} {f['spooled']:,} of {f['sent']:,} decisions "
                      f"in the spool" + (f": {missing:,} DROPPED (the rate above is not the "
                                         f"cost of writing them all)" if missing else
                                         ", none dropped"))


if __name__ == "__main__":
    sys.exit(main())
