"""The Arrow client: one table decided through CheckColumns (decide_arrow) beside the same
table through CheckBatch (check_many over its rows), against one sidecar, in one run.

Reported: rows per second end to end in the worker (encoding, the calls, reading the
answers) for each path, and the ratio. The table is "pipeline" shaped: 100 accounts, five
categories, every row its own collected_at.

    python bench/arrow_bench.py [--rows N] [--repeat N]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
from processes import free_port, maytrain
from workload import CATEGORIES, make_store

from maytrain.client import ConsentClient
from maytrain.client.arrow import decide_arrow, records_from_arrow


def pipeline_table(rows: int, accounts: int, rng: random.Random) -> pa.Table:
    chosen = rng.sample(range(accounts), 100)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return pa.table({
        "record_id": [f"r{i}" for i in range(rows)],
        "account_id": [f"acct-{rng.choice(chosen)}" for _ in range(rows)],
        "data_category": [rng.choice(CATEGORIES) for _ in range(rows)],
        "purpose": ["ai.training"] * rows,
        "collected_at": pa.array([start + timedelta(seconds=rng.randrange(10**7))
                                  for _ in range(rows)], pa.timestamp("us", "UTC")),
    })


def rate(work, rows: int, repeat: int) -> float:
    work()  # warm up
    started = time.perf_counter()
    for _ in range(repeat):
        work()
    return rows * repeat / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--accounts", type=int, default=10_000)
    args = parser.parse_args()
    table = pipeline_table(args.rows, args.accounts, random.Random(1))
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp), args.accounts)
        address = f"127.0.0.1:{free_port()}"
        server = subprocess.Popen([*maytrain(), "serve", "--store", store, "--listen", address,
                                   "--workers", "1"], stderr=subprocess.DEVNULL)
        try:
            with ConsentClient(address, timeout=30, wait_for_ready=True) as client:
                columns = decide_arrow(client, table)
                rows = client.check_many(records_from_arrow(table))
                assert columns.reason.to_pylist() == [d.reason.value for d in rows]
                by_columns = rate(lambda: decide_arrow(client, table), args.rows, args.repeat)
                by_rows = rate(lambda: client.check_many(records_from_arrow(table)), args.rows,
                               args.repeat)
        finally:
            server.terminate()
            server.wait()
    print(f"decide_arrow (CheckColumns)  {by_columns:>12,.0f} rows/s")
    print(f"check_many (CheckBatch)      {by_rows:>12,.0f} rows/s")
    print(f"CheckColumns is {by_columns / by_rows:.1f}x CheckBatch for the same {args.rows:,}-row table")


if __name__ == "__main__":
    main()
