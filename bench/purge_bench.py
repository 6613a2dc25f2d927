"""Benchmark: `maytrain purge-plan` over a generated lineage manifest, beside its floor — the
cost of only reading that manifest (its bytes, and parsing it into Arrow tables as the plan
does).

    python bench/purge_bench.py [--lines N] [--accounts K] [--cache DIR] [--json]

The manifest (10 million lines by default, about 3 GB) and its SQLite store are generated
once and kept under --cache (default $XDG_CACHE_HOME or ~/.cache, maytrain-bench/purge).
The store holds K accounts, half of them with a customer-content grant; after the manifest
was "taken", 1 in 50 accounts opted out, 1 in 100 erased a user and 1 in 100 withdrew its
grant, so the plan lists a few percent of the records. Exits 1 when the plan takes longer
than the goal (3 minutes for 10 million records, scaled to --lines).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sidecar.core.model import Effect  # noqa: E402
from sidecar.policy_files import load_policy  # noqa: E402
from sidecar.purge import ManifestReader  # noqa: E402
from sidecar.store import AccountRequest, ConsentRequest, ErasureRequest, open_store  # noqa: E402

POLICY = load_policy()
GOAL_PER_10M = 180.0
FORMAT = 1  # bump when the generated data changes, so an old cache is not reused
SHAPES = [  # (category, purpose, needs a grant, user)
    ("service_generated.telemetry", "ai.training", False, False),
    ("service_generated.usage", "ai.training.generative", False, True),
    ("service_generated.diagnostic", "product_improvement", False, False),
    ("customer_content.chat", "ai.training", True, True),
    ("customer_content.document", "ai.training", True, False),
]


def cache_folder(explicit: str | None, lines: int, accounts: int) -> Path:
    base = Path(explicit) if explicit else Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "maytrain-bench" / "purge"
    folder = base / f"v{FORMAT}-{lines}-lines-{accounts}-accounts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def prepare(folder: Path, lines: int, accounts: int) -> tuple[Path, str]:
    """The manifest and the store URL, generated unless the cache holds them."""
    manifest, store, done = folder / "manifest.jsonl", folder / "consent.db", folder / "ready"
    url = f"sqlite:///{store}"
    if done.exists():
        return manifest, url
    for stale in (manifest, store):
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    version = make_store(url, accounts)
    write_manifest(manifest, lines, accounts, version)
    restrict(url, accounts)
    done.write_text("")
    print(f"generated {lines:,} lines and {accounts:,} accounts in "
          f"{time.perf_counter() - started:.0f} s under {folder}", file=sys.stderr)
    return manifest, url


def make_store(url: str, accounts: int) -> int:
    """K accounts, the even ones with a grant of customer_content for ai from 2024."""
    requests: list = []
    for a in range(accounts):
        requests.append(AccountRequest(f"acct-{a}", "DE" if a % 10 == 9 else "US"))
        if a % 2 == 0:
            requests.append(ConsentRequest(f"acct-{a}", "customer_content", "ai", Effect.GRANT,
                                           valid_from=1_704_067_200_000_000,
                                           entry_id=f"grant-{a}"))
    with open_store(url, create=True, policy=POLICY) as store:
        return store.write(requests, actor="bench").version


def write_manifest(path: Path, lines: int, accounts: int, version: int, seed: int = 7) -> None:
    """Lines only for records the store allowed: terms data of US accounts, content of
    granted ones, collected in 2025."""
    rnd = random.Random(seed)
    policy = POLICY.version
    tail = (f',"verdict":"ALLOW","reason":"%s","consent_version":{version},'
            f'"policy_version":"{policy}"}}\n')
    with path.open("w", encoding="utf-8") as out:
        for start in range(0, lines, 100_000):
            out.write("".join(_line(i, rnd, accounts, tail)
                              for i in range(start, min(lines, start + 100_000))))


def _line(i: int, rnd: random.Random, accounts: int, tail: str) -> str:
    while True:
        a = rnd.randrange(accounts)
        category, purpose, needs_grant, has_user = SHAPES[rnd.randrange(len(SHAPES))]
        if (needs_grant and a % 2 == 0) or (not needs_grant and a % 10 != 9):
            break
    user = f"user-{rnd.randrange(50)}" if has_user else ""
    derived = '["customer_content.chat"]' if category.endswith("document") and i % 7 == 0 else "[]"
    reason = "ALLOWED_BY_CONSENT" if needs_grant else "ALLOWED_BY_TERMS"
    return (f'{{"record_id":"rec-{i}","account_id":"acct-{a}","user_id":"{user}",'
            f'"data_category":"{category}","purpose":"{purpose}",'
            f'"collected_at":"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",'
            f'"region":"","derived_from":{derived}') + tail % reason


def restrict(url: str, accounts: int) -> None:
    """After the manifest: opt-outs, user erasures and withdrawn grants."""
    requests: list = [ConsentRequest(f"acct-{a}", "service_generated", "ai", Effect.OPT_OUT)
                      for a in range(1, accounts, 50)]
    requests += [ErasureRequest(f"acct-{a}", "user-7") for a in range(3, accounts, 100)]
    with open_store(url, policy=POLICY) as store:
        store.write(requests, actor="bench")
        for a in range(4, accounts, 100):
            store.withdraw(f"grant-{a}", actor="bench")


def read_bytes(path: Path) -> float:
    """Seconds to read the file's bytes (warms the page cache for what follows)."""
    started = time.perf_counter()
    with path.open("rb") as file:
        while file.read(32 << 20):
            pass
    return time.perf_counter() - started


def parse_only(path: Path) -> tuple[float, int]:
    """Seconds to read the manifest into Arrow tables as purge-plan does, and its entries."""
    started, rows = time.perf_counter(), 0
    for table in ManifestReader([str(path)]).tables():
        rows += table.num_rows
    return time.perf_counter() - started, rows


def plan(path: Path, url: str, folder: Path) -> tuple[float, dict]:
    """Seconds of a whole `maytrain purge-plan` run, and its JSON summary."""
    command = [sys.executable, "-m", "sidecar.cli", "purge-plan", "--manifest", str(path),
               "--store", url, "--out", str(folder / "plan.jsonl"), "--json"]
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get(
        "PYTHONPATH")]))}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 3):
        raise SystemExit(f"purge-plan failed ({done.returncode}): {done.stderr}")
    return seconds, json.loads(done.stderr)


def run(lines: int, accounts: int, cache: str | None = None) -> dict:
    """Every figure of the benchmark."""
    folder = cache_folder(cache, lines, accounts)
    manifest, url = prepare(folder, lines, accounts)
    raw = read_bytes(manifest)
    parsed, rows = parse_only(manifest)
    seconds, summary = plan(manifest, url, folder)
    assert rows == summary["records"] == lines, (rows, summary["records"])
    goal = GOAL_PER_10M * lines / 10_000_000
    return {"lines": lines, "accounts": accounts, "bytes": manifest.stat().st_size,
            "read_bytes_seconds": raw, "read_manifest_seconds": parsed, "plan_seconds": seconds,
            "plan_records_per_second": lines / seconds,
            "floor_records_per_second": lines / parsed, "plan_over_floor": seconds / parsed,
            "plan_over_bytes": seconds / raw, "to_purge": summary["to_purge"],
            "by_reason": summary["by_reason"], "goal_seconds": goal, "met": seconds <= goal}


def report(figures: dict) -> str:
    n = figures["lines"]
    return "\n".join([
        f"purge-plan over {n:,} manifest lines ({figures['bytes'] / 1e9:.2f} GB), "
        f"{figures['accounts']:,} accounts, {figures['to_purge']:,} to purge",
        f"  read the bytes only        {figures['read_bytes_seconds']:8.1f} s  "
        f"{n / figures['read_bytes_seconds']:>12,.0f} lines/s",
        f"  read the manifest (floor)  {figures['read_manifest_seconds']:8.1f} s  "
        f"{figures['floor_records_per_second']:>12,.0f} records/s",
        f"  purge-plan, whole command  {figures['plan_seconds']:8.1f} s  "
        f"{figures['plan_records_per_second']:>12,.0f} records/s",
        f"  plan / floor: {figures['plan_over_floor']:.2f}x   plan / bytes: "
        f"{figures['plan_over_bytes']:.1f}x   goal {figures['goal_seconds']:.0f} s: "
        f"{'met' if figures['met'] else 'MISSED'}"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--cache", help="where the generated manifest and store are kept")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = run(args.lines, args.accounts, args.cache)
    print(json.dumps(figures, sort_keys=True) if args.json else report(figures))
    return 0 if figures["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
