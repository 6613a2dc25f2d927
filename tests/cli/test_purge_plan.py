"""`maytrain purge-plan` on the sample store: the records allowed when taken and denied now,
exactly; --since-version agreeing with a full plan; Parquet agreeing with JSON Lines; a bad
manifest line named by file and line with no plan written; a progress bar on terminals only."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import maytrain_command

from sidecar.core import Effect, Record, decide
from sidecar.core.times import parse_timestamp
from sidecar.policy_files import load_policy
from sidecar.purge import ManifestError, ManifestReader, StoreDecider
from sidecar.purge import manifests as manifest_module
from sidecar.purge.folding import FOLDED
from sidecar.store import ConsentRequest, open_store

SAMPLE_VERSION = 14


def entry(rid: str, account: str, category: str, purpose: str = "ai.training", *,
          user: str = "", collected: str | None = "2025-06-01T00:00:00Z", region: str = "",
          derived: tuple[str, ...] = (), reason: str = "ALLOWED_BY_TERMS") -> dict:
    verdict = "ALLOW" if reason.startswith("ALLOWED") else "DENY"
    return {"record_id": rid, "account_id": account, "user_id": user, "data_category": category,
            "purpose": purpose, "collected_at": collected, "region": region,
            "derived_from": list(derived), "verdict": verdict, "reason": reason,
            "consent_version": SAMPLE_VERSION, "policy_version": "sha256:taken"}


# Allowed on the sample when taken, unless said otherwise.
ENTRIES = [
    entry("t1", "sample-terms", "service_generated.telemetry"),
    entry("t2", "sample-terms", "service_generated.usage", user="zed"),
    entry("c1", "sample-consented", "customer_content.chat", reason="ALLOWED_BY_CONSENT"),
    entry("c2", "sample-consented", "customer_content.audio", user="alice",
          reason="ALLOWED_BY_CONSENT"),
    entry("c3", "sample-consented", "customer_content.document", "ai.evaluation",
          collected="2024-06-01T00:00:00Z", reason="ALLOWED_BY_CONSENT"),
    entry("e1", "sample-eu", "service_generated.telemetry", "product_improvement",
          reason="ALLOWED_BY_CONSENT"),
    entry("o1", "sample-opted-out", "service_generated.telemetry", "product_improvement"),
    entry("d1", "sample-terms", "account_data.billing", reason="DENIED_BY_POLICY"),
    entry("d2", "sample-terms", "service_generated.telemetry", reason="DENIED_STALE_CACHE"),
]


def write_jsonl(path: Path, entries: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return path


def plan_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def sample(maytrain, tmp_path):
    """`maytrain` with the sample store in the working directory and the manifest beside it."""
    assert maytrain("store", "init", "--sample").code == 0
    write_jsonl(tmp_path / "m.jsonl", ENTRIES)
    return maytrain


def restrict(folder: Path) -> None:
    """Opt sample-terms out of service_generated for ai, erase alice, withdraw the EU grant
    (in this process: the command line's writes are tested elsewhere)."""
    url = f"sqlite:///{folder / 'maytrain.db'}"
    with open_store(url, policy=load_policy()) as store:
        store.record_consent(ConsentRequest("sample-terms", "service_generated", "ai",
                                            Effect.OPT_OUT), actor="test")
        store.request_erasure("sample-consented", "alice", actor="test")
        store.withdraw("sample-eu-product-improvement", actor="test")


def test_nothing_to_purge_exits_0_with_an_empty_plan(sample) -> None:
    done = sample("purge-plan", "--manifest", "m.jsonl")
    assert (done.code, done.out) == (0, ""), done.err
    assert "0 of 7 records allowed when taken are now denied" in done.err


def test_the_plan_lists_exactly_the_records_now_denied(sample, tmp_path) -> None:
    restrict(tmp_path)
    done = sample("purge-plan", "--manifest", "m.jsonl")
    assert done.code == 3, done.err
    lines = plan_lines(done.out)
    assert [(p["record_id"], p["reason"]) for p in lines] == [
        ("t1", "DENIED_OPTED_OUT"), ("t2", "DENIED_OPTED_OUT"), ("c2", "DENIED_ERASURE"),
        ("e1", "DENIED_NO_CONSENT")]
    assert lines[1] == {"record_id": "t2", "account_id": "sample-terms", "user_id": "zed",
                        "data_category": "service_generated.usage", "purpose": "ai.training",
                        "was_reason": "ALLOWED_BY_TERMS", "was_version": SAMPLE_VERSION,
                        "reason": "DENIED_OPTED_OUT", "consent_version": SAMPLE_VERSION + 3}
    assert "DENIED_OPTED_OUT" in done.err and "sample-terms" in done.err


def test_the_json_summary_counts_by_reason_and_by_account(sample, tmp_path) -> None:
    restrict(tmp_path)
    done = sample("purge-plan", "--manifest", "m.jsonl", "--out", "plan.jsonl", "--json")
    summary = json.loads(done.err)
    assert done.code == 3 and done.out == ""
    assert len(plan_lines((tmp_path / "plan.jsonl").read_text())) == summary["to_purge"] == 4
    assert summary["by_reason"] == {"DENIED_OPTED_OUT": 2, "DENIED_ERASURE": 1,
                                    "DENIED_NO_CONSENT": 1}
    assert summary["by_account"] == {"sample-terms": 2, "sample-consented": 1, "sample-eu": 1}
    assert (summary["records"], summary["allowed_when_taken"], summary["redecided"]) == (9, 7, 7)
    assert summary["consent_version"] == SAMPLE_VERSION + 3


def test_since_version_gives_a_full_plans_answer_for_the_accounts_changed(sample,
                                                                         tmp_path) -> None:
    # Taken as allowed, but the account was erased before version 14: not a change after it.
    write_jsonl(tmp_path / "m.jsonl", [*ENTRIES, entry("x1", "sample-erased",
                                                       "service_generated.usage")])
    restrict(tmp_path)
    full = sample("purge-plan", "--manifest", "m.jsonl", "--json")
    since = sample("purge-plan", "--manifest", "m.jsonl", "--since-version",
                   str(SAMPLE_VERSION), "--json")
    changed = {"sample-terms", "sample-consented", "sample-eu"}
    assert "x1" in {p["record_id"] for p in plan_lines(full.out)}
    assert plan_lines(since.out) == [p for p in plan_lines(full.out) if p["account_id"] in changed]
    assert json.loads(since.err)["accounts_changed"] == 3 and since.code == 3
    later = sample("purge-plan", "--manifest", "m.jsonl", "--since-version",
                   str(SAMPLE_VERSION + 3))
    assert (later.code, later.out) == (0, "")


def test_a_parquet_manifest_plans_as_its_json_lines_twin(sample, tmp_path) -> None:
    restrict(tmp_path)
    rows = [{**e, "collected_at": None if e["collected_at"] is None else
             parse_timestamp(e["collected_at"])} for e in ENTRIES]
    table = pa.Table.from_pylist(rows).set_column(
        5, "collected_at", pa.array([r["collected_at"] for r in rows], pa.int64()).cast(
            pa.timestamp("us", tz="UTC")))
    pq.write_table(table, tmp_path / "m.parquet", row_group_size=3)
    jsonl = sample("purge-plan", "--manifest", "m.jsonl")
    parquet = sample("purge-plan", "--manifest", "m.parquet")
    assert parquet.code == 3 and parquet.out == jsonl.out


def test_several_manifests_are_planned_in_the_order_given(sample, tmp_path) -> None:
    restrict(tmp_path)
    write_jsonl(tmp_path / "a.jsonl", ENTRIES[4:])
    write_jsonl(tmp_path / "b.jsonl", ENTRIES[:4])
    done = sample("purge-plan", "--manifest", "a.jsonl", "--manifest", "b.jsonl")
    assert [p["record_id"] for p in plan_lines(done.out)] == ["e1", "t1", "t2", "c2"]


def test_a_line_that_does_not_parse_is_named_and_no_plan_is_written(sample, tmp_path) -> None:
    restrict(tmp_path)
    (tmp_path / "plan.jsonl").write_text("the last good plan\n")
    lines = [json.dumps(e) for e in ENTRIES]
    lines[5] = lines[5][:40]  # torn
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    done = sample("purge-plan", "--manifest", "m.jsonl", "--out", "plan.jsonl")
    assert done.code == 2 and done.out == ""
    assert "m.jsonl:6: not JSON" in done.err and "no plan was written" in done.err
    assert (tmp_path / "plan.jsonl").read_text() == "the last good plan\n"
    assert sorted(p.name for p in tmp_path.iterdir() if "plan" in p.name) == ["plan.jsonl"]


@pytest.mark.parametrize(("change", "said"), [
    (lambda e: e.pop("collected_at"), "m.jsonl:1: no collected_at"),
    (lambda e: e.update(collected_at="2025-06-01"), "collected_at has no zone"),
    (lambda e: e.update(derived_from="customer_content"), "derived_from must be a list"),
])
def test_an_entry_that_cannot_be_re_decided_is_refused(sample, tmp_path, change, said) -> None:
    first = dict(ENTRIES[0])
    change(first)
    write_jsonl(tmp_path / "m.jsonl", [first, *ENTRIES[1:]])
    done = sample("purge-plan", "--manifest", "m.jsonl")
    assert done.code == 2 and said in done.err, done.err


def test_a_missing_manifest_and_a_version_the_store_lacks_are_failures(sample) -> None:
    missing = sample("purge-plan", "--manifest", "nowhere.jsonl")
    assert missing.code == 2 and "nowhere.jsonl" in missing.err
    ahead = sample("purge-plan", "--manifest", "m.jsonl", "--since-version", "999")
    assert ahead.code == 2 and "make a full plan" in ahead.err, ahead.err


def test_a_sidecar_that_cannot_be_reached_is_a_failure_not_a_purge(sample) -> None:
    done = sample("purge-plan", "--manifest", "m.jsonl", "--target", "127.0.0.1:1")
    assert done.code == 2 and done.out == "" and "could not decide" in done.err, done.err


def test_a_progress_bar_is_shown_on_a_terminal_only(sample, tmp_path) -> None:
    write_jsonl(tmp_path / "m.jsonl", ENTRIES * 100)
    command, extra = maytrain_command()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MAYTRAIN_")}, **extra}
    primary, secondary = pty.openpty()
    done = subprocess.run([*command, "purge-plan", "--manifest", "m.jsonl", "--out", "p.jsonl"],
                          cwd=tmp_path, stderr=secondary, stdout=subprocess.DEVNULL, env=env,
                          timeout=120)
    os.close(secondary)
    shown = _drain(primary)
    assert done.returncode == 0
    assert "records" in shown and "/s" in shown and "left" in shown
    assert "records  " not in sample("purge-plan", "--manifest", "m.jsonl").err


def _drain(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def test_chunks_of_a_big_manifest_name_the_right_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(manifest_module, "CHUNK", 1000)
    lines = [json.dumps({**ENTRIES[0], "record_id": f"r{i}"}) for i in range(500)]
    lines[321] = lines[321].replace('"verdict"', '"verdict":1,"x"')
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError, match=r"m\.jsonl:322: verdict must be a string"):
        list(ManifestReader([str(tmp_path / "m.jsonl")]).tables())
    (tmp_path / "m.jsonl").write_text("\n".join(lines[:321]) + "\n\n  \n")  # blank lines are fine
    tables = list(ManifestReader([str(tmp_path / "m.jsonl")]).tables())
    assert sum(t.num_rows for t in tables) == 321 and len(tables) > 10


def test_the_store_decides_manifest_columns_as_decide_does_per_record(tmp_path) -> None:
    """Every documented sample check, and derived data, as manifest entries."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    subprocess.run([*maytrain_command()[0], "store", "init", "--sample", "--store", url],
                   check=True, capture_output=True, env={**os.environ, **maytrain_command()[1]})
    policy = load_policy()
    entries = [*sample_rows(), entry("g1", "sample-terms", "service_generated.usage",
                                     derived=("customer_content.chat",)),
               entry("g2", "sample-consented", "customer_content.derived.summary",
                     derived=("customer_content.chat", "customer_content")),
               entry("g3", "sample-terms", "service_generated.usage", derived=("",)),
               *(entry(f"u{i}", account, category, user=user) for i, (account, category, user)
                 in enumerate([("sample-consented", "customer_content.audio", "alice"),
                               ("sample-consented", "customer_content.audio", "zoe"),
                               ("sample-consented", "customer_content.chat", "carol"),
                               ("sample-consented", "customer_content.chat", "zoe"),
                               ("sample-opted-out", "service_generated.usage", "dana"),
                               ("sample-opted-out", "service_generated.usage", "zoe"),
                               ("sample-terms", "service_generated.usage", " zoe"),
                               ("sample-terms", "service_generated.usage", FOLDED)]))]
    write_jsonl(tmp_path / "m.jsonl", entries)
    with open_store(url, policy=policy) as store:
        decider = StoreDecider(store, policy)
    (table,) = ManifestReader([str(tmp_path / "m.jsonl")]).tables()
    reasons = decider.decide(table).reason.to_pylist()
    wanted = [decide(Record(e["account_id"], e["data_category"], e["purpose"], e["user_id"],
                            None if e["collected_at"] is None else parse_timestamp(
                                e["collected_at"]), e["region"], tuple(e["derived_from"])),
                     decider.index, policy, decider.now).reason.value for e in entries]
    assert reasons == wanted
    assert reasons[:len(sample_rows())] == [row["reason"] for row in documented_checks()]


def documented_checks() -> list[dict[str, str]]:
    """The rows of the sample README's checks table, as field -> cell ('' for '-')."""
    text = resources.files("sidecar.samples").joinpath("README.md").read_text("utf-8")
    block = text.split("<!-- checks:begin -->")[1].split("<!-- checks:end -->")[0]
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in block.strip().splitlines() if line.startswith("|")]
    return [{k: "" if v == "-" else v for k, v in zip(rows[0], row, strict=True)}
            for row in rows[2:]]


def sample_rows() -> list[dict]:
    """The documented checks as manifest entries taken as allowed."""
    return [entry(f"s{i}", row["account"], row["category"], row["purpose"], user=row["user"],
                  collected=row["collected_at"] or None, region=row["region"])
            for i, row in enumerate(documented_checks())]
