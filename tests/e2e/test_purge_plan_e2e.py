"""Issue 14 end to end, through a real `maytrain serve`: records ingested through `filter`
with a manifest; then an account opts out, a grant is withdrawn, a user is erased and a
grant runs out. `purge-plan` lists exactly the records those changes deny — the same with
--since-version, from the store and from the sidecar — and WatchChanges delivered the four
changes in order, each once to a client whose stream broke between changes and again right
after the erasure (the grant running out while the sidecar was down, announced at the
erasure's version), and to one that disconnected itself and watched again."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from maytrain.client import ChangeKind, ConsentClient
from sidecar.clock import wall_clock
from sidecar.core.model import Effect
from sidecar.policy_files import load_policy
from sidecar.store import ConsentRequest, open_store

CHECKOUT = Path(__file__).resolve().parents[2]
WITHOUT_PYARROW = ("import sys; sys.modules['pyarrow'] = None; from sidecar.cli import main; "
                   "sys.exit(main())")
EXPIRING = "e2e-expiring"
LEFT = 20.0  # seconds the expiring grant has left when it is written


def record(rid: str, account: str, category: str, purpose: str = "ai.training", *,
           user: str = "", collected: str = "2025-06-01T00:00:00Z") -> dict:
    return {"record_id": rid, "account_id": account, "user_id": user, "data_category": category,
            "purpose": purpose, "collected_at": collected}


RECORDS = [
    record("terms-1", "sample-terms", "service_generated.telemetry"),              # opted out
    record("terms-2", "sample-terms", "service_generated.usage", user="zed"),       # opted out
    record("terms-3", "sample-terms", "service_generated.usage", "product_improvement"),
    record("eu-1", "sample-eu", "service_generated.telemetry", "product_improvement"),  # withdrawn
    record("alice-1", "sample-consented", "customer_content.audio", user="alice"),  # erased
    record("chat-1", "sample-consented", "customer_content.chat"),
    record("exp-1", EXPIRING, "customer_content.chat"),                             # expires
    record("exp-2", EXPIRING, "service_generated.telemetry"),
    record("bob-1", "sample-consented", "customer_content.audio", user="bob"),      # never allowed
    record("billing-1", "sample-terms", "account_data.billing"),                    # never allowed
]
PURGED = {"terms-1": "DENIED_OPTED_OUT", "terms-2": "DENIED_OPTED_OUT",
          "eu-1": "DENIED_NO_CONSENT", "alice-1": "DENIED_ERASURE",
          "exp-1": "DENIED_NO_CONSENT"}


def plan(sidecar, *args: str) -> list[dict]:
    """The plan's lines; exit 3, since something is to purge."""
    done = sidecar.cli("purge-plan", *args, check=False)
    assert done.returncode == 3, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def plan_without_pyarrow(sidecar, *args: str) -> list[dict]:
    """The plan of a purge-plan that cannot import pyarrow (as in the image): exit 3."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAYTRAIN_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CHECKOUT), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", WITHOUT_PYARROW, "purge-plan", *args,
                           "--store", sidecar.store], text=True, capture_output=True, env=env,
                          timeout=60)
    assert done.returncode == 3, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def decided(lines: list[dict]) -> dict[str, str]:
    return {line["record_id"]: line["reason"] for line in lines}


def take(watch, count: int, timeout: float = 20.0) -> list:
    """The next `count` changes of a watch, read on a thread so a hang fails the test."""
    found: list = []
    done = threading.Event()

    def read() -> None:
        for change in watch:
            found.append(change)
            if len(found) == count:
                break
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(timeout), f"only {len(found)} of {count} changes came: {found}"
    return found


def test_a_purge_plan_lists_exactly_what_the_changes_after_ingestion_deny(
        start_sidecar, tmp_path: Path) -> None:
    sidecar = start_sidecar(name="p")
    with open_store(sidecar.store, policy=load_policy()) as store:
        store.add_account(EXPIRING, "US", actor="e2e")
        expires = wall_clock() + int(LEFT * 1e6)
        store.record_consent(ConsentRequest(EXPIRING, "customer_content", "ai", Effect.GRANT,
                                            valid_from=1_735_689_600_000_000,
                                            valid_until=expires), actor="e2e")
        taken = store.version()
        manifest = tmp_path / "train.manifest.jsonl"
        with ConsentClient(sidecar.uds, default_purpose="ai.training") as client:
            kept = list(client.filter(RECORDS, manifest=manifest, min_consent_version=taken))
        assert len(kept) == 8

        # A watch that follows from before the changes; the sidecar restarts under it twice.
        with ConsentClient(sidecar.uds, timeout=5) as client:
            watch = iter(client.watch_changes(taken))
            store.record_consent(ConsentRequest("sample-terms", "service_generated", "ai",
                                                Effect.OPT_OUT), actor="e2e")
            store.withdraw("sample-eu-product-improvement", actor="e2e")
            seen = take(watch, 2)
            sidecar.stop()  # the stream breaks between changes ...
            store.request_erasure("sample-consented", "alice", actor="e2e")  # ... one made now
            sidecar = start_sidecar(name="p")  # the same socket: the watch resumes on it
            seen += take(watch, 1)
            sidecar.stop()  # broken again, right after the erasure, before the grant runs out
            time.sleep(max(0.0, (expires - wall_clock()) / 1e6) + 0.5)
            sidecar = start_sidecar(name="p")  # runs out at the erasure's version: once
            seen += take(watch, 1)
        last = store.version()

    full = plan(sidecar, "--manifest", str(manifest))
    assert decided(full) == PURGED
    assert all(line["was_version"] == taken and line["consent_version"] == last for line in full)
    assert plan(sidecar, "--manifest", str(manifest), "--since-version", str(taken)) == full
    at_sidecar = ("--manifest", str(manifest), "--target", sidecar.uds)
    assert decided(plan(sidecar, *at_sidecar, "--min-version", str(last))) == PURGED
    assert decided(plan(sidecar, *at_sidecar, "--since-version", str(taken))) == PURGED
    assert plan_without_pyarrow(sidecar, "--manifest", str(manifest)) == full
    assert decided(plan_without_pyarrow(sidecar, *at_sidecar, "--since-version",
                                        str(taken))) == PURGED

    wanted = [(ChangeKind.OPT_OUT, "sample-terms"), (ChangeKind.WITHDRAWN, "sample-eu"),
              (ChangeKind.ERASURE, "sample-consented"), (ChangeKind.EXPIRED, EXPIRING)]
    with ConsentClient(sidecar.uds) as client:
        whole = list(client.watch_changes(taken, follow=False))
        assert [(c.kind, c.account_id) for c in whole] == wanted
        assert [c.consent_version for c in whole] == [taken + 1, taken + 2, taken + 3, taken + 3]
        assert seen == whole  # the followed watch: each change once across both breaks
        # A client that disconnects itself and watches again from the version it reached.
        first = client.watch_changes(taken, follow=False)
        head = list(itertools.islice(first, 3))  # up to the erasure, then gone
        first.close()
        rest = list(client.watch_changes(first.consent_version, follow=False))
    assert [*head, *rest] == whole
