"""Micro-benchmark of decide_batch: µs per decision beside a floor measured in the same run.

The floor is one plain dictionary lookup per record (the least any decision must do).
Two batches of 100,000 records over 100,000 accounts: one where keys repeat (1,000 distinct
account/user/category/purpose keys, every record with its own collected_at) and one where
every record names a different account. Targets: within 10x of the floor when keys repeat,
50x when every key is distinct.

    python bench/decide_bench.py [--records N] [--accounts N] [--repeats R]
"""

from __future__ import annotations

import argparse
import random
import time

from sidecar.core import Account, ConsentEntry, ConsentIndex, Effect, Record, decide_batch
from sidecar.core.times import parse_timestamp
from sidecar.policy_files import load_policy

NOW = parse_timestamp("2026-06-01T00:00:00Z")
YEAR = 365 * 86400 * 1_000_000
CATEGORIES = ["service_generated.usage", "service_generated.telemetry",
              "customer_content.chat", "customer_content.document", "customer_content.audio",
              "customer_content.derived.transcript"]
PURPOSES = ["ai.training", "ai.training.generative", "ai.evaluation", "product_improvement"]


def build_index(accounts: int, rng: random.Random) -> ConsentIndex:
    """Accounts in a few regions, most with an account grant, some opt-outs and user grants."""
    rows: list = []
    for n in range(accounts):
        account = f"acct-{n}"
        rows.append(Account(account, rng.choice(["US", "US", "DE", "GB", "FR"])))
        if n % 4:
            rows.append(ConsentEntry(f"g-{n}", account, "customer_content", "ai", Effect.GRANT,
                                     valid_from=NOW - 3 * YEAR))
        if n % 7 == 0:
            rows.append(ConsentEntry(f"o-{n}", account, "customer_content.chat",
                                     "ai.training.generative", Effect.OPT_OUT))
        if n % 5 == 0:
            rows.append(ConsentEntry(f"u-{n}", account, "customer_content.audio", "ai",
                                     Effect.GRANT, user_id="u1", valid_from=NOW - YEAR))
    return ConsentIndex.build(100, rows, synced_at=NOW)


def record(account: str, rng: random.Random) -> Record:
    return Record(account_id=account, user_id=rng.choice(["", "u1", "u2"]),
                  data_category=rng.choice(CATEGORIES), purpose=rng.choice(PURPOSES),
                  collected_at=NOW - rng.randrange(4 * YEAR))


def repeated_keys(n: int, rng: random.Random) -> list[Record]:
    keys = [record(f"acct-{rng.randrange(1000)}", rng) for _ in range(1000)]
    return [Record(k.account_id, k.data_category, k.purpose, k.user_id,
                   NOW - rng.randrange(4 * YEAR)) for k in (rng.choice(keys) for _ in range(n))]


def distinct_keys(n: int, accounts: int, rng: random.Random) -> list[Record]:
    return [record(f"acct-{i % accounts}", rng) for i in range(n)]


def best_of(repeats: int, fn) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def floor(records: list[Record], accounts: dict[str, int]) -> None:
    for r in records:
        accounts.get(r.account_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(1)
    policy, index = load_policy(), build_index(args.accounts, rng)
    accounts = {f"acct-{n}": n for n in range(args.accounts)}  # the floor's dictionary
    batches = {"repeated keys": repeated_keys(args.records, rng),
               "distinct keys": distinct_keys(args.records, args.accounts, rng)}
    targets = {"repeated keys": 10, "distinct keys": 50}
    print(f"{args.records:,} records over {args.accounts:,} accounts, best of {args.repeats}")
    for name, records in batches.items():
        floor_s = best_of(args.repeats, lambda r=records: floor(r, accounts))
        decide_s = best_of(args.repeats, lambda r=records: decide_batch(r, index, policy, NOW))
        per, floor_per = decide_s / len(records) * 1e6, floor_s / len(records) * 1e6
        ratio = per / floor_per
        verdict = "ok" if ratio <= targets[name] else "OVER TARGET"
        print(f"{name:14}  decide {per:6.3f} µs/record  floor {floor_per:6.3f} µs/record  "
              f"ratio {ratio:5.1f}x  (target {targets[name]}x: {verdict})")


if __name__ == "__main__":
    main()
