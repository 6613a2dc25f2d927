"""Decide an Apache Arrow table in one call: a boolean mask and the reasons, as arrays.

    python examples/arrow_mask.py --target 127.0.0.1:50051 [--records 100000] [--output kept.arrow]

Builds a table of sample records (collected_at as an Arrow timestamp), decides every row,
writes the allowed rows to --output (Arrow IPC) if given, and prints the count per reason.
Needs pyarrow (pip install 'maytrain-client[arrow]').
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import datetime

import pyarrow as pa
import pyarrow.feather as feather
from sample_records import sample_records

from maytrain.client import ConsentClient
from maytrain.client.arrow import decide_arrow


def sample_table(count: int) -> pa.Table:
    """A table of `count` sample records, with collected_at as timestamp[us, UTC]."""
    rows = list(sample_records(count))
    for row in rows:
        row["collected_at"] = datetime.fromisoformat(row["collected_at"])
    return pa.Table.from_pylist(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", help="sidecar address (default: $MAYTRAIN_TARGET)")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--output", help="write the allowed rows here (Arrow IPC file)")
    args = parser.parse_args(argv)
    table = sample_table(args.records)
    with ConsentClient(args.target) as client:
        decisions = decide_arrow(client, table)
    kept = table.filter(decisions.allowed)
    if args.output:
        feather.write_feather(kept, args.output)
    reasons = Counter(decisions.reason.to_pylist())
    print(json.dumps({"total": table.num_rows, "allowed": kept.num_rows,
                      "reasons": dict(sorted(reasons.items()))}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
