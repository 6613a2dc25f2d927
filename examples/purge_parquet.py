"""Close the loop after ingestion: take a Parquet training set through the sidecar with a
lineage manifest, let consent change, plan the purge, and rewrite the set without the
records that are no longer allowed.

    python examples/purge_parquet.py --target 127.0.0.1:50051 --store sqlite:///maytrain-demo.db \
        [--folder purge-demo] [--records 3000]

Three accounts of its own are added to the store (named after this run, so it can be run
again): one whose telemetry is used under the terms, one with users, one that granted its
chats. After ingestion the first opts out, a user of the second is erased and the third
withdraws its grant; `maytrain purge-plan` lists the records taken that are now denied,
and pyarrow.dataset writes the training set again without them. The last line printed is
a JSON summary. Needs pyarrow (pip install 'maytrain-client[arrow]') and the `maytrain`
command, with the store's URL, for the consent writes and the plan.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from maytrain.client import ConsentClient


def maytrain(store: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a `maytrain` command on the store (the one beside this Python, else the module)."""
    script = Path(sys.executable).with_name("maytrain")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "sidecar.cli"]
    return subprocess.run([*command, *args, "--store", store], capture_output=True, text=True,
                          check=False)


def written(store: str, *args: str) -> dict:
    """The JSON answer of a consent write (its id and consent version)."""
    done = maytrain(store, *args, "--json")
    if done.returncode != 0:
        raise SystemExit(f"maytrain {' '.join(args)} failed: {done.stderr}")
    return json.loads(done.stdout)


def training_rows(count: int, terms: str, users: str, content: str) -> pa.Table:
    """Records of the three accounts, with a payload column (the training text)."""
    shapes = [(terms, "", "service_generated.telemetry"),
              (users, "uma", "service_generated.usage"),
              (users, "ivan", "service_generated.usage"),
              (content, "", "customer_content.chat")]
    rows = [{"record_id": f"rec-{i}", "account_id": shapes[i % 4][0], "user_id": shapes[i % 4][1],
             "data_category": shapes[i % 4][2], "purpose": "ai.training",
             "collected_at": f"2025-{1 + i % 12:02d}-15T12:00:00Z", "text": f"example {i}"}
            for i in range(count)]
    return pa.Table.from_pylist(rows)


def ingest(target: str, source: Path, folder: Path, version: int) -> tuple[Path, Path]:
    """Keep the allowed rows of `source` as a dataset; the manifest records every decision."""
    table = pq.read_table(source)
    manifest, kept_folder = folder / "train.manifest.parquet", folder / "train"
    with ConsentClient(target) as client:
        kept = list(client.filter(table.to_pylist(), manifest=manifest,
                                  min_consent_version=version))
    ds.write_dataset(pa.Table.from_pylist(kept, schema=table.schema), kept_folder,
                     format="parquet", existing_data_behavior="delete_matching")
    return manifest, kept_folder


def purge(kept_folder: Path, plan: Path) -> int:
    """Write the training set again without the planned records; the rows left."""
    purged = pa.array([json.loads(line)["record_id"] for line in plan.read_text().splitlines()])
    dataset = ds.dataset(kept_folder, format="parquet")
    left = dataset.to_table(filter=~pc.field("record_id").isin(purged))
    rewritten = kept_folder.with_name(kept_folder.name + ".rewritten")
    ds.write_dataset(left, rewritten, format="parquet", existing_data_behavior="delete_matching")
    shutil.rmtree(kept_folder)
    rewritten.rename(kept_folder)
    return left.num_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="the sidecar's address")
    parser.add_argument("--store", required=True, help="the store the sidecar follows (URL)")
    parser.add_argument("--folder", default="purge-demo", help="where the files go")
    parser.add_argument("--records", type=int, default=3000)
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    run = f"purge-demo-{time.time_ns() // 1000}"
    terms, users, content = f"{run}-terms", f"{run}-users", f"{run}-content"
    for account in (terms, users, content):
        written(args.store, "account", "add", account, "--region", "US")
    grant = written(args.store, "consent", "grant", "--account", content, "--category",
                    "customer_content", "--purpose", "ai.training", "--valid-from",
                    "2025-01-01T00:00:00Z")

    source = folder / "source.parquet"
    pq.write_table(training_rows(args.records, terms, users, content), source)
    manifest, kept_folder = ingest(args.target, source, folder, grant["consent_version"])
    before = ds.dataset(kept_folder, format="parquet").count_rows()
    print(f"ingested {before:,} of {args.records:,} records into {kept_folder}/, "
          f"manifest {manifest}")

    written(args.store, "consent", "opt-out", "--account", terms, "--category",
            "service_generated", "--purpose", "ai")
    written(args.store, "erasure", "request", "--account", users, "--user", "uma")
    last = written(args.store, "consent", "withdraw", grant["id"])["consent_version"]
    print(f"{terms} opted out, user uma of {users} erased, {content}'s grant withdrawn "
          f"(consent version {last})")

    plan = folder / "purge-plan.jsonl"
    done = maytrain(args.store, "purge-plan", "--manifest", str(manifest), "--target",
                    args.target, "--min-version", str(last), "--out", str(plan), "--json")
    if done.returncode not in (0, 3):
        raise SystemExit(f"purge-plan failed: {done.stderr}")
    summary = json.loads(done.stderr)
    after = purge(kept_folder, plan)
    print(f"purge plan {plan}: {summary['to_purge']:,} records, {summary['by_reason']}")
    print(f"training set: {before:,} records before, {after:,} after")
    print(json.dumps({"before": before, "after": after, "purged": summary["to_purge"],
                      "by_reason": summary["by_reason"]}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
