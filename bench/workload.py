"""What the gRPC benchmarks send: a store, record pools, and each RPC's requests serialized
once before any timing starts.

Records are drawn two ways: "pipeline" batches, whose records come from 100 accounts (one
ingestion job's batch spans few tenants; every record still has its own collected_at),
and "scattered" batches over every account, where almost every record has a key of its
own and gets a full decision.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from processes import maytrain

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_pb2

SERVICE = "maytrain.v1.ConsentCheckService"
CATEGORIES = ["service_generated.usage", "service_generated.telemetry",
              "customer_content.chat", "customer_content.document", "customer_content.audio"]
BATCH_RPCS = ("CheckBatch", "CheckStream", "CheckColumns")
SHAPES = ("pipeline", "scattered")


def make_store(workdir: Path, accounts: int) -> str:
    """A SQLite store with `accounts` accounts, most with a content grant."""
    lines = []
    for n in range(accounts):
        lines.append({"type": "account", "account": f"acct-{n}", "region": "US"})
        if n % 4:
            lines.append({"type": "grant", "account": f"acct-{n}",
                          "category": "customer_content", "purpose": "ai",
                          "valid_from": "2022-01-01T00:00:00Z"})
    path = workdir / "bench.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    store = f"sqlite:///{workdir / 'bench.db'}"
    subprocess.run([*maytrain(), "store", "init", "--store", store], check=True,
                   capture_output=True)
    subprocess.run([*maytrain(), "import", str(path), "--store", store], check=True,
                   capture_output=True)
    return store


def records(count: int, accounts: list[int], rng: random.Random) -> list[consent_pb2.Record]:
    """`count` wire records of the given accounts, each with its own collected_at."""
    out = []
    for i in range(count):
        rec = consent_pb2.Record(record_id=f"r{i}", account_id=f"acct-{rng.choice(accounts)}",
                                 data_category=rng.choice(CATEGORIES), purpose="ai.training")
        rec.collected_at.FromSeconds(1_700_000_000 + rng.randrange(10**8))
        out.append(rec)
    return out


def pools(accounts: int, size: int = 10_000, seed: int = 1) -> dict[str, list[consent_pb2.Record]]:
    """The pipeline and scattered record pools, `size` records each."""
    rng = random.Random(seed)
    return {"pipeline": records(size, rng.sample(range(accounts), 100), rng),
            "scattered": records(size, list(range(accounts)), rng)}


def string_column(values: Sequence[str]) -> pb.StringColumn:
    """An Arrow dictionary array in the wire's shape; an all-empty field is left unset."""
    if not any(values):
        return pb.StringColumn()
    codes: dict[str, int] = {}
    indices = np.fromiter((codes.setdefault(v, len(codes)) for v in values), dtype="<i4",
                          count=len(values))
    return pb.StringColumn(dictionary=list(codes), indices=indices.tobytes())


def columns_request(batch: Sequence[consent_pb2.Record]) -> pb.CheckColumnsRequest:
    """The CheckColumns request holding the same records as a CheckBatch of `batch`."""
    def column(field: str) -> pb.StringColumn:
        return string_column([getattr(r, field) for r in batch])

    micros = np.fromiter((r.collected_at.seconds * 1_000_000 + r.collected_at.nanos // 1000
                          for r in batch), dtype="<i8", count=len(batch))
    return pb.CheckColumnsRequest(
        count=len(batch), record_id=column("record_id"), account_id=column("account_id"),
        user_id=column("user_id"), data_category=column("data_category"),
        purpose=column("purpose"), region=column("region"),
        collected_at_micros=micros.tobytes())


def batch_payload(rpc: str, batch: Sequence[consent_pb2.Record]) -> bytes:
    """One serialized request of `rpc` carrying `batch`."""
    if rpc == "CheckColumns":
        return columns_request(batch).SerializeToString()
    message = pb.CheckBatchRequest if rpc == "CheckBatch" else pb.CheckStreamRequest
    return message(records=batch).SerializeToString()


def check_payloads(pool: Sequence[consent_pb2.Record]) -> list[bytes]:
    """One serialized CheckRequest per record."""
    return [pb.CheckRequest(record=r).SerializeToString() for r in pool]


def answered(rpc: str, reply: bytes) -> tuple[int, int]:
    """(records answered, of them allowed) in a serialized reply of `rpc`."""
    if rpc == "CheckColumns":
        message = pb.CheckColumnsResponse.FromString(reply)
        bits = np.unpackbits(np.frombuffer(message.allowed, np.uint8), bitorder="little")
        return len(message.reasons), int(bits[:len(message.reasons)].sum())
    message = (pb.CheckBatchResponse if rpc == "CheckBatch" else pb.CheckStreamResponse
               ).FromString(reply)
    allowed = sum(d.verdict == consent_pb2.VERDICT_ALLOW for d in message.decisions)
    return len(message.decisions), allowed
