"""Filter a Hugging Face dataset through the maytrain sidecar, batch by batch.

    python examples/hf_filter.py --target 127.0.0.1:50051 [--records 100000] [--output kept/]

Builds a dataset of sample records, keeps the allowed rows (Dataset.filter, batched),
counts the reasons of all rows (Dataset.map adding the decision columns), and saves the
allowed rows to --output (save_to_disk) if given. Needs datasets
(pip install 'maytrain-client[hf]').
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

import datasets
from sample_records import sample_records

from maytrain.client.hf import filter_dataset, with_decisions


def sample_dataset(count: int) -> datasets.Dataset:
    """A dataset of `count` sample records (collected_at as ISO text)."""
    return datasets.Dataset.from_list(list(sample_records(count)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", help="sidecar address (default: $MAYTRAIN_TARGET)")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--output", help="save the allowed rows here (a dataset folder)")
    args = parser.parse_args(argv)
    datasets.disable_progress_bars()
    dataset = sample_dataset(args.records)
    kept = filter_dataset(dataset, args.target)
    if args.output:
        kept.save_to_disk(args.output)
    reasons = Counter(with_decisions(dataset, args.target)["maytrain_reason"])
    print(json.dumps({"total": len(dataset), "allowed": len(kept),
                      "reasons": dict(sorted(reasons.items()))}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
