"""Soak: the real sidecar on loopback for --seconds under checks, batches, a stream and a
revocation a second; reports errors, wrong ALLOWs after each write's version, and RSS.

One `maytrain serve` follows a temporary SQLite store holding the sample data and one
fresh account per second of the run. This process is the client: a few threads call
Check and CheckBatch, one keeps a CheckStream open, and a writer opts out (or erases)
the next fresh account every second through the store API. Every answer for an account
whose revocation was written at version V must be a DENY once it was asked with
min_consent_version >= V, or answered at consent_version >= V; an ALLOW then is a wrong
ALLOW, and any wrong ALLOW fails the run (exit 1), as does the sidecar dying.

    python bench/soak_bench.py [--seconds 300] [--checkers 3] [--batch 200] [--sync-interval 1]
"""

from __future__ import annotations

import argparse
import itertools
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from processes import free_port, maytrain

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2
from sidecar.core.model import Effect
from sidecar.policy_files import load_policy
from sidecar.store import AccountRequest, ConsentRequest, open_store

TIMEOUT = 5.0
ALLOWED = {consent_pb2.REASON_ALLOWED_BY_TERMS, consent_pb2.REASON_ALLOWED_BY_CONSENT}
SAMPLE = ["sample-terms", "sample-opted-out", "sample-consented", "sample-eu"]


def rss_kib(pid: int) -> int:
    """The process's resident set (VmRSS), in KiB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")


@dataclass
class Tally:
    """What every client thread found, under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: Counter = field(default_factory=Counter)
    records: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    wrong_by_request: int = 0
    wrong_by_answer: int = 0
    wrong_examples: list = field(default_factory=list)
    stale: int = 0
    untouched_denied: int = 0
    first_deny: dict = field(default_factory=dict)

    def error(self, kind: str, exc: grpc.RpcError) -> None:
        with self.lock:
            self.errors[f"{kind} {exc.code().name}"] += 1


class Revocations:
    """The writer's log: account -> (consent version of its revocation, when written)."""

    def __init__(self, accounts: list[str]) -> None:
        self.accounts = accounts
        self.written: dict[str, tuple[int, float]] = {}
        self.latest = 0
        self.lock = threading.Lock()

    def publish(self, account: str, version: int) -> None:
        with self.lock:
            self.written[account] = (version, time.monotonic())
            self.latest = max(self.latest, version)

    def view(self) -> tuple[int, int]:
        """The latest version written and how many accounts were revoked so far."""
        with self.lock:
            return self.latest, len(self.written)

    def revocation_of(self, account: str) -> tuple[int, float] | None:
        """The version the account's revocation was written at, and when; None if not yet."""
        with self.lock:
            return self.written.get(account)


def record(account: str, rid: str) -> consent_pb2.Record:
    rec = consent_pb2.Record(record_id=rid, account_id=account, purpose="ai.training",
                             data_category="service_generated.telemetry")
    rec.collected_at.FromSeconds(1_750_000_000)
    return rec


def draw_records(rng: random.Random, log: Revocations, count: int) -> list[consent_pb2.Record]:
    """Records of recently revoked accounts, of the next ones to be revoked, and samples."""
    _, done = log.view()
    out = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.5 and done:
            account = log.accounts[rng.randrange(max(0, done - 20), done)]
        elif roll < 0.8 and done < len(log.accounts):
            account = log.accounts[rng.randrange(done, min(len(log.accounts), done + 5))]
        else:
            account = rng.choice(SAMPLE)
        out.append(record(account, str(i)))
    return out


def judge(tally: Tally, log: Revocations, records, min_version: int, answered_at: int,
          decisions) -> None:
    """Count wrong ALLOWs, stale denials and denials of untouched accounts in one answer."""
    now = time.monotonic()
    with tally.lock:
        for rec, decision in zip(records, decisions, strict=True):
            tally.records["answered"] += 1
            revoked = log.revocation_of(rec.account_id)
            allowed = decision.verdict == consent_pb2.VERDICT_ALLOW and decision.reason in ALLOWED
            if decision.reason == consent_pb2.REASON_DENIED_STALE_CACHE:
                tally.stale += 1
            if revoked is None:
                if not allowed and rec.account_id.startswith("soak-") and \
                        decision.reason != consent_pb2.REASON_DENIED_STALE_CACHE:
                    tally.untouched_denied += 1
                continue
            version, written_at = revoked
            if allowed and (min_version >= version or answered_at >= version):
                tally.wrong_by_request += min_version >= version
                tally.wrong_by_answer += answered_at >= version
                if len(tally.wrong_examples) < 5:
                    tally.wrong_examples.append((rec.account_id, version, min_version, answered_at))
            if not allowed and rec.account_id not in tally.first_deny:
                tally.first_deny[rec.account_id] = now - written_at


def checker(stub, tally: Tally, log: Revocations, stop: threading.Event, seed: int,
            batch: int) -> None:
    """Alternate Check and CheckBatch, each demanding the latest version written."""
    rng = random.Random(seed)
    for n in itertools.count():
        if stop.is_set():
            return
        min_version = log.view()[0] if rng.random() < 0.8 else 0
        unary = n % 4 != 3
        records = draw_records(rng, log, 1 if unary else batch)
        try:
            if unary:
                reply = stub.Check(pb.CheckRequest(record=records[0], min_consent_version=min_version),
                                   timeout=TIMEOUT)
                decisions = [reply.decision]
            else:
                reply = stub.CheckBatch(pb.CheckBatchRequest(
                    records=records, min_consent_version=min_version), timeout=TIMEOUT)
                decisions = reply.decisions
        except grpc.RpcError as exc:
            tally.error("Check" if unary else "CheckBatch", exc)
            time.sleep(0.05)
            continue
        with tally.lock:
            tally.calls["Check" if unary else "CheckBatch"] += 1
        judge(tally, log, records, min_version, reply.consent_version, decisions)


def streamer(stub, tally: Tally, log: Revocations, stop: threading.Event, batch: int,
             seconds: float) -> None:
    """One CheckStream, a batch at a time, reopened if it breaks."""
    rng = random.Random(7)
    while not stop.is_set():
        outbox: queue.Queue = queue.Queue()
        responses = stub.CheckStream(iter(outbox.get, None), timeout=seconds + 60)
        try:
            while not stop.is_set():
                min_version = log.view()[0]
                records = draw_records(rng, log, batch)
                outbox.put(pb.CheckStreamRequest(records=records, min_consent_version=min_version))
                reply = next(responses)
                with tally.lock:
                    tally.calls["CheckStream batch"] += 1
                judge(tally, log, records, min_version, reply.consent_version, reply.decisions)
        except grpc.RpcError as exc:
            tally.error("CheckStream", exc)
            time.sleep(0.05)
        finally:
            outbox.put(None)
            responses.cancel()


def writer(store, log: Revocations, stop: threading.Event, latencies: list[float],
           kinds: Counter, errors: Counter) -> None:
    """Every second, opt out (three times in four) or erase the next fresh account."""
    start = time.monotonic()
    for n, account in enumerate(log.accounts):
        if stop.wait(max(0.0, start + n + 1 - time.monotonic())):
            return
        began = time.perf_counter()
        try:
            if n % 4 == 3:
                result = store.request_erasure(account, actor="soak")
                kinds["erasure"] += 1
            else:
                result = store.record_consent(ConsentRequest(
                    account, "service_generated", "ai", Effect.OPT_OUT), actor="soak")
                kinds["opt-out"] += 1
        except Exception as exc:  # noqa: BLE001 - a failed write is reported, not fatal
            errors[f"write {type(exc).__name__}"] += 1
            continue
        latencies.append(time.perf_counter() - began)
        log.publish(account, result.version)


def make_store(workdir: Path, accounts: list[str]):
    store_url = f"sqlite:///{workdir / 'soak.db'}"
    subprocess.run([*maytrain(), "store", "init", "--sample", "--store", store_url],
                   check=True, capture_output=True)
    store = open_store(store_url, policy=load_policy())
    store.write([AccountRequest(account, "US") for account in accounts], actor="soak")
    return store_url, store


def wait_serving(stub, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if stub.GetStatus(pb.GetStatusRequest(), timeout=1).serving:
                return
        except grpc.RpcError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the sidecar did not become ready:\n{log_path.read_text()[-3000:]}")


def run(args: argparse.Namespace, workdir: Path) -> int:
    accounts = [f"soak-{n}" for n in range(int(args.seconds) + 5)]
    store_url, store = make_store(workdir, accounts)
    address, log_path = f"127.0.0.1:{free_port()}", workdir / "sidecar.log"
    with log_path.open("w") as out:
        process = subprocess.Popen([*maytrain(), "serve", "--store", store_url, "--listen", address,
                                    "--sync-interval", str(args.sync_interval)],
                                   stdout=out, stderr=subprocess.STDOUT)
    channel = grpc.insecure_channel(address)
    stub = pb_grpc.ConsentCheckServiceStub(channel)
    try:
        wait_serving(stub, process, log_path)
        return soak(args, store, stub, process, log_path, Revocations(accounts))
    finally:
        channel.close()
        process.terminate()
        process.wait(30)
        store.close()


def soak(args, store, stub, process, log_path: Path, log: Revocations) -> int:
    tally, stop = Tally(), threading.Event()
    latencies: list[float] = []
    kinds, write_errors = Counter(), Counter()
    threads = [threading.Thread(target=checker, args=(stub, tally, log, stop, seed, args.batch))
               for seed in range(args.checkers)]
    threads += [threading.Thread(target=streamer, args=(stub, tally, log, stop, args.batch // 2,
                                                            args.seconds)),
                threading.Thread(target=writer, args=(store, log, stop, latencies, kinds, write_errors))]
    rss_start, rss_peak, started = rss_kib(process.pid), 0, time.monotonic()
    for thread in threads:
        thread.start()
    while time.monotonic() - started < args.seconds and process.poll() is None:
        time.sleep(min(1.0, max(0.0, args.seconds - (time.monotonic() - started))))
        rss_peak = max(rss_peak, rss_kib(process.pid))
    rss_end, elapsed = rss_kib(process.pid), time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join(TIMEOUT + 5)
    died = process.poll() is not None
    tally.errors.update(write_errors)
    report(tally, elapsed, latencies, kinds, (rss_start, rss_end, rss_peak), died)
    if died:
        print(f"the sidecar exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
    return 1 if tally.wrong_by_request or tally.wrong_by_answer or died else 0


def report(tally: Tally, elapsed: float, latencies: list[float], kinds: Counter,
           rss: tuple[int, int, int], died: bool) -> None:
    rate = {name: count / elapsed for name, count in tally.calls.items()}
    lags = list(tally.first_deny.values())
    start, end, peak = (kib / 1024 for kib in rss)
    print(f"soak: {elapsed:.0f} s on loopback against one `maytrain serve`")
    print("  calls        " + ", ".join(f"{name} {count} ({rate[name]:.0f}/s)"
                                         for name, count in sorted(tally.calls.items())))
    print(f"  records      {tally.records['answered']} answered")
    written = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
    print(f"  writes       {sum(kinds.values())} ({written}); commit p50 "
          f"{percentile(latencies, 50) * 1e3:.1f} ms, p99 {percentile(latencies, 99) * 1e3:.1f} ms")
    print(f"  wrong ALLOWs after a write's version: {tally.wrong_by_request} with min_consent_version "
          f">= it, {tally.wrong_by_answer} answered at consent_version >= it (must both be 0)")
    for example in tally.wrong_examples:
        print("    account {} revoked at {}, asked at min {}, answered at {}".format(*example))
    print(f"  errors       {sum(tally.errors.values())}" + (
        f" ({', '.join(f'{k}: {v}' for k, v in sorted(tally.errors.items()))})" if tally.errors else ""))
    print(f"  stale denials {tally.stale}; denials of accounts not yet revoked {tally.untouched_denied}")
    print(f"  revocation seen (write -> first DENY) p50 {percentile(lags, 50) * 1e3:.0f} ms, "
          f"max {max(lags, default=float('nan')) * 1e3:.0f} ms over {len(lags)} accounts")
    print(f"  sidecar RSS  start {start:.1f} MiB, end {end:.1f} MiB ({end - start:+.1f} MiB), "
          f"peak {peak:.1f} MiB" + (" - the sidecar died" if died else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--checkers", type=int, default=3, help="Check/CheckBatch threads")
    parser.add_argument("--batch", type=int, default=200, help="records per CheckBatch")
    parser.add_argument("--sync-interval", type=float, default=1.0, help="the sidecar's (1 s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
