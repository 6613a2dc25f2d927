"""Compare representations of the consent index at scale: memory, build, load, decide, update.

    python bench/index_prototypes.py [--accounts N] [--kinds plain,packed-dict,mapped]

Three representations behind one read interface (`state`, `apply`, counts):

- plain: the old index, a dict of AccountState objects (`core.reference_index.PlainIndex`);
  its file form is a pickle (the JSON snapshot it replaced is slower still).
- packed-dict: a dict of account id -> packed record bytes (`core.packed`), strings of
  categories, purposes and regions interned in one table; the file is read into the dict.
- mapped: one buffer holding records, table and a hash table (`core.compact`), the file
  mapped and read in place, never parsed.

Each is built from the same generated rows (3 entries per account), written to a file,
then loaded in a fresh process that reports its RSS above the interpreter (anonymous and
file-backed), the load time, decide_batch cost per record on scattered and on repeated
accounts, and the cost of applying one change. Results are JSON lines on stdout.
"""

from __future__ import annotations

import argparse
import json
import mmap
import pickle
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from cachetools import LRUCache

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sidecar.core import Account, Change, ConsentEntry, Effect, Record, decide_batch  # noqa: E402
from sidecar.core.account_state import UNKNOWN, AccountState  # noqa: E402
from sidecar.core.compact import BaseWriter, CompactBase  # noqa: E402
from sidecar.core.index import ConsentIndex  # noqa: E402
from sidecar.core.model import StoreRow  # noqa: E402
from sidecar.core.packed import StringTable, pack_state, unpack_account  # noqa: E402
from sidecar.core.reference_index import PlainIndex  # noqa: E402
from sidecar.core.times import parse_timestamp  # noqa: E402
from sidecar.policy_files import load_policy  # noqa: E402

NOW = parse_timestamp("2026-06-01T00:00:00Z")
FROM = parse_timestamp("2025-03-01T00:00:00Z")
CATEGORIES = ["service_generated.usage", "service_generated.telemetry", "customer_content.chat",
              "customer_content.audio", "customer_content.document"]
PURPOSES = ["ai.training", "ai.training.generative", "ai.evaluation", "product_improvement"]
BATCH = 10_000


def rows_for(accounts: int) -> Iterator[StoreRow]:
    """An account row and three entries per account, like bench/scale_store.py's store."""
    for n in range(accounts):
        account = f"acct-{n:07d}"
        yield Account(account, ("US", "DE", "FR", "")[n % 4], NOW - 10**12)
        yield ConsentEntry(f"con_{4 * n + 1:08x}{n * 7919:012x}", account, "customer_content",
                           "ai", Effect.GRANT, valid_from=FROM, evidence="signed DPA 2025",
                           recorded_at=NOW - 10**11, recorded_by="import", version=4 * n + 1)
        yield ConsentEntry(f"con_{4 * n + 2:08x}{n * 7907:012x}", account,
                           "customer_content.audio", "ai.training", Effect.GRANT,
                           user_id=f"user-{n % 40}", valid_from=FROM, recorded_at=NOW - 10**11,
                           recorded_by="import", version=4 * n + 2)
        yield ConsentEntry(f"con_{4 * n + 3:08x}{n * 7901:012x}", account, "service_generated",
                           "ai.training.generative", Effect.OPT_OUT, recorded_at=NOW - 10**11,
                           recorded_by="import", version=4 * n + 3)


class PackedDictIndex:
    """Prototype: packed record bytes per account in a dict, decoded on demand (LRU)."""

    def __init__(self, records: dict[str, bytes], strings: list[str], version: int) -> None:
        self.records, self.strings, self.version = records, strings, version
        self.synced_at: int | None = NOW
        self.overlay: dict[str, AccountState] = {}
        self._cache: LRUCache[str, AccountState] = LRUCache(maxsize=4096)
        self._lock = threading.Lock()

    def state(self, account_id: str) -> AccountState:
        """The account's state, from the overlay, the cache, or its packed record."""
        held = self.overlay.get(account_id)
        if held is not None:
            return held
        with self._lock:
            found = self._cache.get(account_id)
        if found is None:
            record = self.records.get(account_id)
            found = UNKNOWN if record is None else unpack_account(memoryview(record), 0,
                                                                  self.strings)
            with self._lock:
                self._cache[account_id] = found
        return found

    def apply(self, changes: list[Change]) -> PackedDictIndex:
        """A new index with the changes' accounts in a copied overlay (small here)."""
        new = PackedDictIndex(self.records, self.strings, changes[-1].version)
        new.overlay = dict(self.overlay)
        for change in changes:
            new.overlay[change.row.account_id] = new.state(change.row.account_id).with_row(
                change.row)
        return new


def write_packed_dict(path: Path, accounts: int) -> None:
    """The packed-dict file: the string table, then (id, record) pairs."""
    table, out = StringTable([""]), bytearray()
    for account_id, state in _states(accounts):
        record = bytearray()
        pack_state(record, table, account_id, state)
        out += len(record).to_bytes(4, "little")
        out += record
    packed = table.packed()
    path.write_bytes(len(packed).to_bytes(4, "little") + packed + out)


def load_packed_dict(path: Path) -> PackedDictIndex:
    """Read the packed-dict file back into its dict."""
    data = path.read_bytes()
    view = memoryview(data)
    size = int.from_bytes(data[:4], "little")
    strings = StringTable.unpacked(view, 4).strings
    records, pos = {}, 4 + size
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "little")
        record = data[pos + 4:pos + 4 + length]
        records[_record_id(record)] = record
        pos += 4 + length
    return PackedDictIndex(records, strings, 4 * len(records))


def _record_id(record: bytes) -> str:
    size = int.from_bytes(record[1:3], "little")
    return record[15:15 + size].decode()


def _states(accounts: int) -> Iterator[tuple[str, AccountState]]:
    state, current = UNKNOWN, ""
    for row in rows_for(accounts):
        if row.account_id != current:
            if current:
                yield current, state
            state, current = UNKNOWN, row.account_id
        state = state.with_row(row)
    yield current, state


def write_mapped(path: Path, accounts: int) -> None:
    """The mapped file: the compact base buffer, streamed."""
    writer = BaseWriter()
    with path.open("wb") as out:
        for account_id, state in _states(accounts):
            writer.add_state(account_id, state)
            if len(writer.out) > 4 << 20:
                out.write(writer.take())
        out.write(writer.take())
        out.write(writer.finish())


def load_mapped(path: Path) -> ConsentIndex:
    """Map the file and read it in place."""
    with path.open("rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    base = CompactBase(memoryview(mapped))
    return ConsentIndex.on(base, 4 * base.account_count, NOW)


def memory_kib() -> dict[str, int]:
    """VmRSS, RssAnon and RssFile of this process, in KiB."""
    wanted = {"VmRSS", "RssAnon", "RssFile"}
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in wanted:
            found[name] = int(value.split()[0])
    return found


def records(accounts: int, pool: list[int], rng: random.Random) -> list[Record]:
    """A batch over the given account numbers, each record with its own collected_at."""
    return [Record(f"acct-{rng.choice(pool):07d}", rng.choice(CATEGORIES),
                   rng.choice(PURPOSES), rng.choice(["", "user-3"]),
                   NOW - rng.randrange(10**14)) for _ in range(BATCH)]


def measure(kind: str, path: Path, accounts: int) -> dict[str, float]:
    """In this (fresh) process: load, then memory, decide and update costs."""
    policy, rng = load_policy(), random.Random(3)
    before = memory_kib()
    started = time.perf_counter()
    loaders = {"plain": lambda p: pickle.loads(p.read_bytes()), "packed-dict": load_packed_dict,
               "mapped": load_mapped}
    index = loaders[kind](path)
    loaded = time.perf_counter() - started
    result: dict[str, float] = {"load_s": round(loaded, 3)}
    result.update(_decide_costs(index, policy, accounts, rng))
    after = memory_kib()
    result.update({f"{name}_mb": round((after[name] - before[name]) / 1024, 1) for name in after})
    result["apply_us"] = _apply_cost(index, accounts)
    return result


def _decide_costs(index: object, policy: object, accounts: int,
                  rng: random.Random) -> dict[str, float]:
    costs = {}
    for name, pool in (("scattered", list(range(accounts))),
                       ("repeated", rng.sample(range(accounts), 100))):
        batches = [records(accounts, pool, rng) for _ in range(5)]
        started = time.perf_counter()
        for batch in batches:
            decide_batch(batch, index, policy, NOW)  # type: ignore[arg-type]
        costs[f"decide_{name}_us"] = round((time.perf_counter() - started) / 5 / BATCH * 1e6, 2)
    return costs


def _apply_cost(index: object, accounts: int) -> float:
    started, rounds = time.perf_counter(), 200
    version = getattr(index, "version", 0)
    for i in range(rounds):
        version += 1
        entry = ConsentEntry(f"new-{i}", f"acct-{i * 4999 % accounts:07d}", "customer_content",
                             "ai", Effect.OPT_OUT, version=version)
        index = index.apply([Change(version, entry)])  # type: ignore[attr-defined]
    return round((time.perf_counter() - started) / rounds * 1e6, 1)


def build(kind: str, path: Path, accounts: int) -> float:
    """Build the representation from rows and write its file; seconds taken."""
    started = time.perf_counter()
    if kind == "plain":
        index = PlainIndex.build(4 * accounts, rows_for(accounts), NOW)
        path.write_bytes(pickle.dumps(index, protocol=5))
    elif kind == "packed-dict":
        write_packed_dict(path, accounts)
    else:
        write_mapped(path, accounts)
    return time.perf_counter() - started


def main() -> None:
    """Build each kind here, measure it in a child process, print one JSON line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--kinds", default="packed-dict,mapped,plain")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.file, args.accounts)))
        return
    with tempfile.TemporaryDirectory() as folder:
        for kind in args.kinds.split(","):
            path = Path(folder) / kind
            built = build(kind, path, args.accounts)
            child = subprocess.run([sys.executable, __file__, "--measure", kind, "--file",
                                    str(path), "--accounts", str(args.accounts)],
                                   check=True, capture_output=True, text=True)
            found = json.loads(child.stdout)
            print(json.dumps({"kind": kind, "accounts": args.accounts, "build_s": round(built, 2),
                              "file_mb": round(path.stat().st_size / 2**20, 1), **found}),
                  flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
