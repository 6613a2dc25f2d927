"""Filter a JSON Lines file of records into another, with a lineage manifest beside it.

    python examples/filter_jsonl.py --target unix:/run/maytrain.sock in.jsonl out.jsonl
    python examples/filter_jsonl.py --target 127.0.0.1:50051 --make-sample 1000 in.jsonl out.jsonl

Allowed lines are copied unchanged; the manifest (default: out.manifest.jsonl) has one
line per input record with its verdict, reason and versions. --make-sample first writes
that many sample records (for the sample data) to the input file.
"""

from __future__ import annotations

import argparse
import json

from sample_records import sample_records

from maytrain.client import ConsentClient
from maytrain.client.jsonl import filter_jsonl, manifest_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", help="sidecar address (default: $MAYTRAIN_TARGET)")
    parser.add_argument("--manifest", help="lineage manifest (default: OUTPUT.manifest.jsonl)")
    parser.add_argument("--purpose", default="", help="purpose of records that name none")
    parser.add_argument("--make-sample", type=int, metavar="N", help="write N sample records first")
    parser.add_argument("input")
    parser.add_argument("output")
    args = parser.parse_args(argv)
    if args.make_sample:
        with open(args.input, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(r) + "\n" for r in sample_records(args.make_sample))
    with ConsentClient(args.target, default_purpose=args.purpose) as client:
        summary = filter_jsonl(client, args.input, args.output,
                               manifest=args.manifest or manifest_path(args.output))
    print(json.dumps({"total": summary.total, "allowed": summary.allowed,
                      "denied": summary.denied, "reasons": summary.reasons}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
