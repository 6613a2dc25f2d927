"""`maytrain purge-plan` where pyarrow cannot be imported (a sidecar install, the image):
JSON Lines manifests give the plan and summary the Arrow path gives, with --since-version
too; a Parquet manifest is refused saying pyarrow is needed, and nothing is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from test_purge_plan import ENTRIES, SAMPLE_VERSION, entry, restrict, sample, write_jsonl

CHECKOUT = Path(__file__).resolve().parents[2]
# Every `import pyarrow...` fails in this process, as where it is not installed.
__all__ = ["sample"]  # the fixture, shared with test_purge_plan
WITHOUT_PYARROW = ("import sys; sys.modules['pyarrow'] = None; from sidecar.cli import main; "
                   "sys.exit(main())")


@pytest.fixture
def bare(sample, tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """Runs `maytrain ARGS...` without pyarrow, on the sample store of `sample`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAYTRAIN_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CHECKOUT), env.get("PYTHONPATH")]))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", WITHOUT_PYARROW, *args], cwd=tmp_path,
                              text=True, capture_output=True, env=env, timeout=60)

    return run


def summary_of(stderr: str) -> dict:
    summary = json.loads(stderr)
    summary.pop("seconds")
    return summary


@pytest.mark.parametrize("since", [[], ["--since-version", str(SAMPLE_VERSION)]],
                         ids=["full", "since-version"])
def test_a_json_lines_plan_without_pyarrow_is_the_arrow_plan(sample, bare, tmp_path,
                                                            since) -> None:
    write_jsonl(tmp_path / "m.jsonl", [*ENTRIES, entry("x1", "sample-erased",
                                                       "service_generated.usage")])
    restrict(tmp_path)
    arrow = sample("purge-plan", "--manifest", "m.jsonl", "--json", *since)
    plain = bare("purge-plan", "--manifest", "m.jsonl", "--json", *since)
    assert (plain.returncode, arrow.code) == (3, 3), plain.stderr
    assert plain.stdout == arrow.out and len(plain.stdout.splitlines()) >= 4
    assert summary_of(plain.stderr) == summary_of(arrow.err)


def test_a_parquet_manifest_without_pyarrow_is_refused_with_what_to_do(sample, bare,
                                                                       tmp_path) -> None:
    write_jsonl(tmp_path / "m.jsonl", ENTRIES)
    (tmp_path / "m.parquet").write_bytes(b"PAR1")
    done = bare("purge-plan", "--manifest", "m.jsonl", "--manifest", "m.parquet",
                "--out", "plan.jsonl")
    assert done.returncode == 2 and done.stdout == ""
    assert "m.parquet: a Parquet manifest needs pyarrow" in done.stderr
    assert "pip install pyarrow" in done.stderr and not (tmp_path / "plan.jsonl").exists()


def test_a_bad_line_without_pyarrow_is_named_and_no_plan_is_written(sample, bare,
                                                                    tmp_path) -> None:
    lines = [json.dumps(e) for e in ENTRIES]
    lines[4] = lines[4].replace('"collected_at": "2024-06-01T00:00:00Z"', '"collected_at": 7')
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    restrict(tmp_path)
    done = bare("purge-plan", "--manifest", "m.jsonl", "--out", "plan.jsonl")
    assert done.returncode == 2 and "m.jsonl:5: collected_at must be ISO 8601" in done.stderr
    assert not (tmp_path / "plan.jsonl").exists()
