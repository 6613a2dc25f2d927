"""`make bench`: every headline figure in one run, written to bench/report.md, report.json
and report.png, each sidecar figure beside its own floor measured in the same run.

    python bench/report.py [--out DIR] [--quick] [--render-only]

Sections: unary Check and the batch RPCs against bench/floor_server.py (grpc_bench.py),
`--workers 1` against `--workers 2` (workers_bench.py), and the scale benchmark's memory
and start figures (scale_bench.py, in its own process; BENCH_SCALE=0 skips it, and a
first run builds its 1M-account store, ~4 min). --quick (or BENCH_QUICK=1) runs short
rounds, for trying the driver, not for figures; --render-only rewrites the .md and .png
from the .json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import grpc
import grpc_bench
import numpy
import observability_bench
import workers_bench
from google.protobuf import __version__ as protobuf_version
from google.protobuf.internal import api_implementation
from report_render import render_chart, render_markdown

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def machine() -> dict:
    """What the figures were measured on."""
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    return {"cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "cpu_model": model, "kernel": platform.release(),
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "grpcio": grpc.__version__,
            "protobuf": f"{protobuf_version} ({api_implementation.Type()})",
            "numpy": numpy.__version__}


def revision() -> dict:
    """The commit measured, and the paths that differed from it (others' work in progress)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT).stdout

    changed = [line[3:] for line in git("status", "--porcelain", "--", "sidecar", "clients",
                                        "protos").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "subject": git("log", "-1", "--format=%s").strip(), "uncommitted": changed}


def scale_section() -> dict:
    """scale_bench.py's figures, or why they were not measured."""
    if os.environ.get("BENCH_SCALE", "1") == "0":
        return {"skipped": "skipped (BENCH_SCALE=0)"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(HERE / "scale_bench.py"), "--json"],
                          stdout=subprocess.PIPE, text=True, cwd=ROOT)
    if not done.stdout.strip():
        return {"skipped": f"not measured: scale_bench.py failed (exit {done.returncode})"}
    return {**json.loads(done.stdout), "seconds": time.perf_counter() - started}


def measure(quick: bool) -> dict:
    """Every section, one after the other (one benchmark at a time)."""
    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    grpc_args = {"rounds": 1, "seconds": 0.3, "calls": 500} if quick else {
        "rounds": 3, "seconds": 1.5, "calls": 5000}
    workers_args = {"rounds": 1, "seconds": 1.5} if quick else {"rounds": 3, "seconds": 3.0}
    observability_args = {"rounds": 1, "seconds": 0.5} if quick else {"rounds": 9,
                                                                      "seconds": 1.5}
    figures = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
               "machine": machine(), "revision": revision(), "quick": quick,
               "load_average_before": os.getloadavg()[0]}
    say("== unary Check and the batch RPCs, beside the floor")
    figures["grpc"] = grpc_bench.run(progress=say, **grpc_args)
    say("== --workers 1 against --workers 2")
    figures["workers"] = workers_bench.run(**workers_args)
    say("== the cost of metrics and of receipts at sample 1.0")
    figures["observability"] = observability_bench.run(**observability_args)
    say("== scale: memory and start at 10,000 and 1,000,000 accounts")
    figures["scale"] = scale_section()
    figures["load_average_after"] = os.getloadavg()[0]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("BENCH_QUICK", "0") == "1")
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args()
    data = args.out / "report.json"
    if args.render_only:
        figures = json.loads(data.read_text())
    else:
        data.write_text(json.dumps(measure(args.quick), indent=1) + "\n")
        figures = json.loads(data.read_text())  # render what was written, as --render-only does
    (args.out / "report.md").write_text(render_markdown(figures))
    render_chart(figures, args.out / "report.png")
    print((args.out / "report.md").read_text())


if __name__ == "__main__":
    main()
