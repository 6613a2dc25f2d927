"""Scale benchmark: a real `maytrain serve` over 10,000 and 1,000,000 accounts (3 entries
each), beside the goals of the scale issue and the chart's memory limit.

    python bench/scale_bench.py [--accounts 10000,1000000] [--json]

With --json, stdout carries only the figures, as one JSON document (report.py reads it).

The stores are built once by bench/scale_store.py and cached outside git. For each size:
cold start (store to SERVING, no snapshot file), RSS once serving and 20 s later (above a
bare interpreter that imported the sidecar; anonymous and file-backed apart), the
snapshot file's size per entry, warm start (file to SERVING, then caught up with the
store from the file's version), decide_batch
cost per record against the mapped file (scattered and repeated accounts), and the time
from an opt-out written to the store to a DENY from the sidecar. Prints a table; exits 1
when the 1M sidecar's anonymous memory leaves less than 25% of the chart's memory limit
free (the mapped file's pages are page cache, reclaimed under the limit).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from processes import free_port, workers_available
from scale_store import account_id, ensure_store  # noqa: E402

from maytrain.v1 import consent_check_service_pb2 as pb  # noqa: E402
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc  # noqa: E402
from maytrain.v1 import consent_pb2  # noqa: E402
from sidecar.core import Effect, Record, decide_batch  # noqa: E402
from sidecar.index_file import map_index  # noqa: E402
from sidecar.policy_files import load_policy  # noqa: E402
from sidecar.store import ConsentRequest, open_store  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VALUES = ROOT / "helm" / "maytrain" / "values.yaml"
GOALS = {"rss_mb": 150, "cold_s": 5, "warm_s": 2, "bytes_per_entry": 100}
CATEGORIES = ["service_generated.telemetry", "customer_content.chat", "customer_content.audio"]
DENIED_OPTED_OUT = consent_pb2.REASON_DENIED_OPTED_OUT
# One serving process, so that its memory is what /proc shows for the pid started (with
# --workers N the supervisor's pid holds no index; each worker holds its own).
ONE_WORKER = ("--workers", "1") if workers_available() else ()


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS, RssAnon and RssFile of a process, in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile"):
            found[name] = int(value.split()[0]) / 1024
    return found


def interpreter_mb() -> dict[str, float]:
    """The RSS of an interpreter that imported what `maytrain serve` imports, and no data."""
    probe = subprocess.run([sys.executable, "-c", "import sidecar.runtime, sidecar.cli, os; "
                            "print(open(f'/proc/{os.getpid()}/status').read())"],
                           capture_output=True, text=True, check=True, cwd=ROOT)
    found = {}
    for line in probe.stdout.splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile"):
            found[name] = int(value.split()[0]) / 1024
    return found


class Sidecar:
    """One `maytrain serve` process on a loopback port, with its log."""

    def __init__(self, store: str, workdir: Path, *extra: str) -> None:
        self.address, self.log = f"127.0.0.1:{free_port()}", workdir / f"serve-{time.time()}.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sidecar.cli", "serve", "--store", store, "--listen",
                 self.address, "--sync-interval", "0.2", *ONE_WORKER, *extra],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        self.started = time.perf_counter()
        self.channel = grpc.insecure_channel(self.address)
        self.stub = pb_grpc.ConsentCheckServiceStub(self.channel)

    def wait_serving(self, timeout: float = 900) -> float:
        """Seconds from the process start to a status that says SERVING."""
        while time.perf_counter() - self.started < timeout and self.process.poll() is None:
            try:
                if self.stub.GetStatus(pb.GetStatusRequest(), timeout=1).serving:
                    return time.perf_counter() - self.started
            except grpc.RpcError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"the sidecar did not serve:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.channel.close()
        self.process.terminate()
        self.process.wait(60)


def opt_out_to_denial(sidecar: Sidecar, store_url: str, account: str) -> float:
    """Seconds from an opt-out committed to the store to the sidecar's DENY for it."""
    record = consent_pb2.Record(account_id=account, data_category="service_generated.usage",
                                purpose="ai.training")
    record.collected_at.FromSeconds(1_780_000_000)
    before = sidecar.stub.Check(pb.CheckRequest(record=record), timeout=5).decision.reason
    assert before == consent_pb2.REASON_ALLOWED_BY_TERMS, f"{account} is not allowed to start"
    with open_store(store_url, policy=load_policy()) as store:
        began = time.perf_counter()
        store.record_consent(ConsentRequest(account, "service_generated", "ai", Effect.OPT_OUT),
                             actor="scale-bench")
    while time.perf_counter() - began < 60:
        reply = sidecar.stub.Check(pb.CheckRequest(record=record), timeout=5)
        if reply.decision.reason == DENIED_OPTED_OUT:
            return time.perf_counter() - began
        time.sleep(0.005)
    raise SystemExit("the opt-out never reached the sidecar")


def decide_costs(snapshot: Path, store_url: str, accounts: int,
                 key: bytes) -> dict[str, float]:
    """µs per record of decide_batch against the mapped file: scattered and repeated."""
    index, _ = map_index(snapshot, store_url, now=time.time_ns() // 1000, key=key)
    index = index.confirmed(time.time_ns() // 1000)
    policy, rng, costs = load_policy(), random.Random(5), {}
    for name, pool in (("scattered", range(accounts)), ("repeated", rng.sample(range(accounts), 100))):
        pool = list(pool)
        batch = [Record(account_id(rng.choice(pool)), rng.choice(CATEGORIES), "ai.training",
                        f"user-{rng.randrange(40)}", 1_780_000_000_000_000) for _ in range(10_000)]
        decide_batch(batch[:100], index, policy, index.synced_at or 0)
        started = time.perf_counter()
        decide_batch(batch, index, policy, index.synced_at or 0)
        costs[name] = (time.perf_counter() - started) / len(batch) * 1e6
    return costs


def measure(accounts: int, workdir: Path, base: dict[str, float]) -> dict[str, float]:
    """Every figure for one store size."""
    db = workdir / "store.db"
    shutil.copy(ensure_store(accounts), db)
    url, snapshot = f"sqlite:///{db}", workdir / "cache" / "snapshot.bin"
    key = workdir / "snapshot.key"
    key.write_text(secrets.token_urlsafe(32))  # keyed, as the chart deploys it
    files = ("--snapshot-file", str(snapshot), "--snapshot-key-file", str(key))
    result: dict[str, float] = {"accounts": accounts}
    cold = Sidecar(url, workdir, *files)
    result["cold_s"] = cold.wait_serving()
    result.update({f"{k}_mb": v - base[k] for k, v in memory_mb(cold.process.pid).items()})
    # Every third account holds no opt-out of service-generated data: terms allow it.
    result["opt_out_to_deny_s"] = opt_out_to_denial(cold, url, account_id(accounts // 6 * 3))
    _wait_for(snapshot)
    time.sleep(20)
    later = memory_mb(cold.process.pid)
    result["rss_20s_mb"] = later["VmRSS"] - base["VmRSS"]
    result["anon_20s_mb"] = later["RssAnon"] - base["RssAnon"]
    cold.stop()
    entries = 3 * accounts + 1
    result["snapshot_mb"] = snapshot.stat().st_size / 2**20
    result["bytes_per_entry"] = snapshot.stat().st_size / entries
    costs = decide_costs(snapshot, url, accounts, key.read_bytes().strip())
    result.update({f"decide_{k}_us": v for k, v in costs.items()})
    warm = Sidecar(url, workdir, *files)
    result["warm_s"] = warm.wait_serving()
    result["warm_rss_mb"] = memory_mb(warm.process.pid)["VmRSS"] - base["VmRSS"]
    warm.stop()
    result.update(packed_start(url, workdir, key, base))
    return result


def packed_start(url: str, workdir: Path, key: Path, base: dict[str, float]) -> dict[str, float]:
    """`store pack`'s time, then a cold start from the pack (a new pod: an empty snapshot
    directory) to SERVING, and its memory once serving."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sidecar.cli", "store", "pack", "--store", url,
                    "--snapshot-key-file", str(key)],  # sealed: a keyed sidecar wants that
                   check=True, cwd=ROOT, capture_output=True)
    figures = {"pack_s": time.perf_counter() - began}
    fresh = workdir / "new-pod" / "snapshot.bin"
    packed = Sidecar(url, workdir, "--snapshot-file", str(fresh), "--snapshot-key-file", str(key))
    figures["packed_cold_s"] = packed.wait_serving()
    memory = memory_mb(packed.process.pid)
    figures["packed_anon_mb"] = memory["RssAnon"] - base["RssAnon"]
    packed.stop()
    if "loaded the store's packed base" not in packed.log.read_text():
        raise SystemExit(f"the cold start did not read the pack:\n{packed.log.read_text()[-3000:]}")
    return figures


def _wait_for(path: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def chart_limit_mb() -> float:
    """The sidecar container's memory limit in the chart's default values, in MB."""
    text = VALUES.read_text()
    found = re.search(r"limits:\s*\n\s*memory:\s*(\d+)Mi", text)
    return int(found.group(1)) * 1.048576 if found else float("nan")


def report(results: list[dict[str, float]], limit: float, out=sys.stdout) -> None:
    print(f"{'figure':28}" + "".join(f"{int(r['accounts']):>14,}" for r in results) + "   goal",
          file=out)
    for label, key, goal in ROWS:
        print(f"{label:28}" + "".join(f"{r[key]:>14,.2f}" for r in results) + f"   {goal}",
              file=out)
    print(f"chart memory limit (values.yaml): {limit:,.0f} MB", file=out)


ROWS = [("RSS above interpreter, MB", "VmRSS_mb", "< 150"),
        ("  of it anonymous, MB", "RssAnon_mb", ""),
        ("  of it file-backed, MB", "RssFile_mb", ""), ("RSS 20 s later, MB", "rss_20s_mb", ""),
        ("  of it anonymous, MB", "anon_20s_mb", "< 150"),
        ("cold start to SERVING, s", "cold_s", "< 5"),
        ("warm start to SERVING, s", "warm_s", "< 2"),
        ("warm RSS above interp., MB", "warm_rss_mb", ""),
        ("store pack, s", "pack_s", ""),
        ("cold start from the pack, s", "packed_cold_s", "< 5"),
        ("  its anonymous RSS, MB", "packed_anon_mb", "< 150"),
        ("snapshot file, MB", "snapshot_mb", ""),
        ("snapshot bytes per entry", "bytes_per_entry", "< 100"),
        ("decide µs/record scattered", "decide_scattered_us", ""),
        ("decide µs/record repeated", "decide_repeated_us", ""),
        ("opt-out to DENY, s", "opt_out_to_deny_s", "< 1")]
"""The table's rows: label, key in a size's figures, goal."""


def run(sizes: list[int]) -> dict:
    """Every figure for each store size, and the biggest one's headroom under the chart's
    memory limit."""
    base, results = interpreter_mb(), []
    for accounts in sizes:
        with tempfile.TemporaryDirectory() as folder:
            results.append(measure(accounts, Path(folder), base))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    limit = chart_limit_mb()
    # File-backed pages (the mapped index) are clean page cache the kernel reclaims under
    # the cgroup's limit; anonymous memory is what the limit has to hold.
    biggest = max(results, key=lambda r: r["accounts"])
    held = max(biggest["RssAnon_mb"], biggest["anon_20s_mb"]) + base["RssAnon"]
    return {"results": results, "goals": GOALS, "interpreter_mb": base,
            "chart_limit_mb": limit, "biggest_accounts": biggest["accounts"],
            "anonymous_held_mb": held, "headroom_mb": limit - held,
            "resident_with_file_mb": held + biggest["RssFile_mb"],
            "headroom_ok": limit - held >= 0.25 * limit}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", default="10000,1000000")
    parser.add_argument("--json", action="store_true",
                        help="print the figures as one JSON document (the table goes to stderr)")
    args = parser.parse_args()
    figures = run([int(a) for a in args.accounts.split(",")])
    table = sys.stderr if args.json else sys.stdout
    report(figures["results"], figures["chart_limit_mb"], table)
    limit, held = figures["chart_limit_mb"], figures["anonymous_held_mb"]
    print(f"at {int(figures['biggest_accounts']):,} accounts the sidecar holds {held:,.0f} MB "
          f"anonymous (interpreter included), {figures['headroom_mb']:,.0f} MB of the "
          f"{limit:,.0f} MB limit free; with its mapped file resident "
          f"{figures['resident_with_file_mb']:,.0f} MB", file=table)
    if args.json:
        print(json.dumps(figures, indent=1))
    return 0 if figures["headroom_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
