"""Benchmark: time `maytrain import` of a generated JSON Lines file into a fresh SQLite store.

    python bench/import_bench.py [--rows N] [--target SECONDS] [--keep DIR]

The file mixes accounts (1 in 10 rows), grants, opt-outs and user erasures, like a bulk
migration from another consent system. Exits 1 when the import is slower than the target
(60 s for a million rows by default, scaled to --rows).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sidecar.policy_files import load_policy  # noqa: E402
from sidecar.store import open_store  # noqa: E402
from sidecar.store.imports import import_batch, read_import  # noqa: E402

POLICY = load_policy()

CATEGORIES = ["service_generated", "service_generated.telemetry", "customer_content",
              "customer_content.chat", "customer_content.audio", "customer_content.derived"]
PURPOSES = ["ai", "ai.training", "ai.training.generative", "ai.evaluation",
            "product_improvement"]
REGIONS = ["US", "DE", "FR", "US-CA", "EU", ""]
TARGET_PER_MILLION = 60.0


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Write `rows` import lines: an account, then nine rows that name recent accounts."""
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for i in range(rows):
            out.write(json.dumps(_row(i, rnd)) + "\n")


def _row(i: int, rnd: random.Random) -> dict:
    if i % 10 == 0:
        return {"type": "account", "account": f"acct-{i // 10}", "region": rnd.choice(REGIONS)}
    account = f"acct-{i // 10}"
    user = rnd.choice(["", f"user-{rnd.randrange(50)}"])
    if i % 10 == 9:
        return {"type": "erasure", "account": account, "user": f"user-{rnd.randrange(50)}"}
    row = {"type": rnd.choice(["grant", "grant", "opt_out"]), "account": account,
           "category": rnd.choice(CATEGORIES), "purpose": rnd.choice(PURPOSES),
           "evidence": f"ticket {i}"}
    if user:
        row["user"] = user
    if row["type"] == "grant":
        row["valid_from"] = f"2025-{rnd.randrange(1, 13):02d}-01T00:00:00Z"
    return row


def run(rows: int, folder: Path) -> tuple[float, float]:
    """Generate, then time parsing and writing; returns (parse seconds, total seconds)."""
    source = folder / "import.jsonl"
    generate(source, rows)
    url = f"sqlite:///{folder / 'bench.db'}"
    open_store(url, create=True, policy=POLICY).close()
    started = time.perf_counter()
    batch = read_import(source)
    parsed = time.perf_counter()
    with open_store(url, policy=POLICY) as store:
        result = import_batch(store, batch, actor="bench")
    total = time.perf_counter() - started
    assert result.version == rows
    return parsed - started, total


def main() -> int:
    """Run the benchmark and report against the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--target", type=float, help="seconds (default 60 per million rows)")
    parser.add_argument("--keep", type=Path, help="generate and keep files in this folder")
    args = parser.parse_args()
    target = args.target or TARGET_PER_MILLION * args.rows / 1_000_000
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        parse, total = run(args.rows, args.keep)
    else:
        with tempfile.TemporaryDirectory() as folder:
            parse, total = run(args.rows, Path(folder))
    verdict = "ok" if total <= target else "TOO SLOW"
    print(f"import of {args.rows:,} rows: {total:.1f} s ({args.rows / total:,.0f} rows/s; "
          f"parse {parse:.1f} s, validate and write {total - parse:.1f} s); "
          f"target {target:.0f} s: {verdict}")
    return 0 if total <= target else 1


if __name__ == "__main__":
    sys.exit(main())
