"""`maytrain import` streams: its peak memory stays bounded however long the file is, and
a bad line near the end still leaves the store unchanged (all or nothing)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import maytrain_command

ROWS = 200_000
HEADROOM_KIB = 65 * 1024
"""Above an interpreter that imported the CLI. Holding the whole file, as the import did
before it streamed, took about 95 MB more for these rows; streaming takes about 40."""


def peak_kib(args: list[str], cwd: Path) -> tuple[int, int]:
    """Exit status and peak RSS (KiB) of one `maytrain` run."""
    command, extra = maytrain_command()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MAYTRAIN_")}, **extra}
    process = subprocess.Popen([*command, *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss


def write_rows(path: Path, rows: int, bad_last: bool = False) -> None:
    """Accounts, each followed by four grants and opt-outs; optionally a bad last line."""
    with path.open("w", encoding="utf-8") as out:
        for n in range(rows // 5):
            out.write(json.dumps({"type": "account", "account": f"acct-{n}", "region": "DE"}) + "\n")
            for kind in ("grant", "opt_out", "grant", "opt_out"):
                out.write(json.dumps({"type": kind, "account": f"acct-{n}", "user": f"u{n % 9}",
                                      "category": "customer_content", "purpose": "ai",
                                      "evidence": f"ticket {n}"}) + "\n")
        if bad_last:
            out.write(json.dumps({"type": "grant", "account": "nobody", "category":
                                  "customer_content", "purpose": "ai"}) + "\n")


def test_a_large_import_stays_within_a_memory_bound(tmp_path: Path) -> None:
    write_rows(tmp_path / "rows.jsonl", ROWS)
    assert peak_kib(["store", "init"], tmp_path)[0] == 0
    _, interpreter = peak_kib(["store", "--help"], tmp_path)
    code, peak = peak_kib(["import", "rows.jsonl"], tmp_path)
    assert code == 0
    assert peak - interpreter < HEADROOM_KIB, f"import peaked {peak - interpreter} KiB above"


def test_a_bad_line_after_many_slices_leaves_the_store_unchanged(tmp_path: Path) -> None:
    write_rows(tmp_path / "rows.jsonl", 50_000, bad_last=True)
    command, extra = maytrain_command()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MAYTRAIN_")}, **extra}
    run = lambda *a: subprocess.run([*command, *a], cwd=tmp_path, env=env, text=True,  # noqa: E731
                                    capture_output=True, timeout=120)
    assert run("store", "init").returncode == 0
    failed = run("import", "rows.jsonl")
    assert failed.returncode != 0 and "line 50001" in failed.stderr
    assert run("store", "init").stdout.count("consent version 0") == 1
