"""The scale benchmark's consent store: N accounts with 3 consent entries each, built once
through the store's own bulk write path and cached outside git between runs.

    python bench/scale_store.py [--accounts N]     # build (or find) the store, print its path

Each account gets an account-level grant of customer content for AI, one user's grant of
audio, and an opt-out or a grant of service-generated data: 4 store rows per account.
The cache file is named after the account count and a fingerprint of the store schema,
so a schema change builds a new one instead of benchmarking a stale layout.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sidecar.core.model import Effect  # noqa: E402
from sidecar.core.times import parse_timestamp  # noqa: E402
from sidecar.policy_files import load_policy  # noqa: E402
from sidecar.store import AccountRequest, ConsentRequest, open_store  # noqa: E402
from sidecar.store.requests import WriteRequest  # noqa: E402

CACHE = Path(os.environ.get("MAYTRAIN_BENCH_CACHE", Path.home() / ".cache" / "maytrain-bench"))
SCHEMA = Path(__file__).resolve().parent.parent / "sidecar" / "store" / "sqlite" / "schema"
GENERATOR = "3"  # bump when the rows below change
SLICE = 50_000   # accounts per write transaction (4 rows each)
REGIONS = ["US", "US", "DE", "FR", "GB", "US-CA", "IE", ""]
EVIDENCE = ["admin console", "signed DPA 2025", "support ticket", ""]
GRANT_FROM = [parse_timestamp(t) for t in ("2024-01-01T00:00:00Z", "2025-03-01T00:00:00Z")]


def account_id(n: int) -> str:
    """The id of the n-th generated account."""
    return f"acct-{n:07d}"


def fingerprint() -> str:
    """A short hash of the SQLite schema files and this generator's version."""
    digest = hashlib.sha256(GENERATOR.encode())
    for path in sorted(SCHEMA.glob("*.sql")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def store_path(accounts: int) -> Path:
    """Where the store of `accounts` accounts is cached."""
    return CACHE / f"scale-{accounts}-{fingerprint()}.db"


def requests_for(first: int, last: int, rng: random.Random) -> Iterator[WriteRequest]:
    """The write requests of accounts first..last-1: the account, then its three entries."""
    for n in range(first, last):
        account = account_id(n)
        yield AccountRequest(account, rng.choice(REGIONS))
        yield ConsentRequest(account, "customer_content", "ai", Effect.GRANT,
                             valid_from=rng.choice(GRANT_FROM), evidence=rng.choice(EVIDENCE))
        yield ConsentRequest(account, "customer_content.audio", "ai.training", Effect.GRANT,
                             user_id=f"user-{rng.randrange(40)}", valid_from=GRANT_FROM[1],
                             evidence=rng.choice(EVIDENCE))
        if n % 3:
            yield ConsentRequest(account, "service_generated", "ai.training.generative",
                                 Effect.OPT_OUT, evidence=rng.choice(EVIDENCE))
        else:
            yield ConsentRequest(account, "service_generated.telemetry", "product_improvement",
                                 Effect.GRANT, valid_from=GRANT_FROM[0])


def ensure_store(accounts: int, *, quiet: bool = False) -> Path:
    """The cached store of `accounts` accounts, built first if it is not there yet."""
    path = store_path(accounts)
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building.db")
    building.unlink(missing_ok=True)
    url, policy, rng = f"sqlite:///{building}", load_policy(), random.Random(accounts)
    started = time.perf_counter()
    with open_store(url, create=True, policy=policy) as store:
        for first in range(0, accounts, SLICE):
            last = min(accounts, first + SLICE)
            store.write(list(requests_for(first, last, rng)), actor="scale-bench")
            if not quiet:
                print(f"  {last:,} accounts written ({time.perf_counter() - started:.0f} s)",
                      file=sys.stderr)
    building.rename(path)
    return path


def main() -> None:
    """Build or find the store and print its path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    args = parser.parse_args()
    print(ensure_store(args.accounts))


if __name__ == "__main__":
    main()
