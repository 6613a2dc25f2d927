"""Filter a Ray Dataset through the maytrain sidecar, one client per actor, with a lineage
manifest per actor.

    python examples/ray_filter.py --target 127.0.0.1:50051 [--records 100000] [--actors 2]
        [--manifests manifests/] [--output kept/] [--address RAY_CLUSTER]

Each actor decides its Arrow batches in one CheckColumns call each. In a cluster leave
--target out: each actor then uses its own $MAYTRAIN_TARGET. Needs ray[data]
(pip install 'maytrain-client[ray]').
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

import ray
from arrow_mask import sample_table
from ray.data import ActorPoolStrategy, Dataset

from maytrain.client.ray import filter_dataset, read_manifests


def allowed_records(target: str | None, count: int, actors: int = 2,
                    manifests: str | None = None) -> Dataset:
    """The allowed rows of a Dataset of `count` sample records."""
    table = sample_table(count)
    size = -(-count // (4 * actors))  # a few blocks per actor
    blocks = [table.slice(start, size) for start in range(0, count, size)]
    return filter_dataset(ray.data.from_arrow(blocks), target, manifest_dir=manifests,
                          compute=ActorPoolStrategy(size=actors))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", help="sidecar address (default: each actor's own)")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--manifests", help="write each actor's manifest into this folder")
    parser.add_argument("--output", help="write the allowed rows here (Parquet)")
    parser.add_argument("--address", help="a Ray cluster to join (default: start a local one)")
    args = parser.parse_args(argv)
    if args.address:
        ray.init(address=args.address, log_to_driver=False)
    else:
        ray.init(num_cpus=args.actors, include_dashboard=False, log_to_driver=False)
    try:
        kept = allowed_records(args.target, args.records, args.actors, args.manifests).materialize()
        if args.output:
            kept.write_parquet(args.output)
        summary: dict = {"total": args.records, "allowed": kept.count()}
        if args.manifests:
            reasons = Counter(entry["reason"] for entry in read_manifests(args.manifests))
            summary["reasons"] = dict(sorted(reasons.items()))
        print(json.dumps(summary))
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
