"""Check records held as Python dicts: one at a time, in bulk, and as a filtered stream.

    python examples/check_records.py --target 127.0.0.1:50051 [--records 1000]

Prints each kind of sample record with its decision, then how many of --records
generated records `filter` let through. Needs a sidecar serving the sample data.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

from sample_records import sample_records

from maytrain.client import ConsentClient, Record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", help="sidecar address (default: $MAYTRAIN_TARGET)")
    parser.add_argument("--records", type=int, default=1000, help="records to filter")
    args = parser.parse_args(argv)
    with ConsentClient(args.target) as client:
        one = client.check(Record(account_id="sample-terms", purpose="ai.training",
                                  data_category="service_generated.usage",
                                  collected_at="2025-06-01T00:00:00Z"), explain=True)
        print(f"one record: {one.verdict} {one.reason} at consent version {one.consent_version}")
        kinds = list(sample_records(14))
        for record, decision in zip(kinds, client.check_many(kinds), strict=True):
            print(f"  {record['account_id']:18} {record['data_category']:30} -> {decision.reason}")
        kept = Counter(r["account_id"] for r in client.filter(sample_records(args.records)))
    print(json.dumps({"filtered": args.records, "allowed": sum(kept.values()),
                      "allowed_by_account": dict(sorted(kept.items()))}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
