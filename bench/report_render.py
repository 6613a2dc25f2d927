"""Turns report.json's figures (see report.py) into report.md and the chart report.png."""

from __future__ import annotations

from pathlib import Path

import limits

RPC_COLORS = {"CheckBatch": "tab:blue", "CheckStream": "tab:green", "CheckColumns": "tab:red"}
SCALE_ROWS = [("RSS above the interpreter, MB", "VmRSS_mb", "rss_mb", "<"),
              ("  of it anonymous, 20 s later, MB", "anon_20s_mb", "rss_mb", "<"),
              ("  of it file-backed (mapped index), MB", "RssFile_mb", None, ""),
              ("cold start to SERVING, reading the rows, s", "cold_s", "cold_s", "<"),
              ("`store pack`, s", "pack_s", None, ""),
              ("cold start to SERVING from the store's pack, s", "packed_cold_s", "cold_s", "<"),
              ("warm start to SERVING, s", "warm_s", "warm_s", "<"),
              ("snapshot file, MB", "snapshot_mb", None, ""),
              ("snapshot bytes per entry", "bytes_per_entry", "bytes_per_entry", "<"),
              ("opt-out to DENY, s", "opt_out_to_deny_s", None, "")]


def render_markdown(f: dict) -> str:
    """The whole report, as Markdown."""
    parts = [header(f), targets_table(f), unary_section(f["grpc"]), batch_section(f["grpc"]),
             workers_section(f["workers"])]
    if "observability" in f:  # reports from before it was measured render without it
        parts.append(observability_section(f["observability"]))
    parts.append(scale_section(f["scale"]))
    return "\n\n".join(parts) + "\n"


def header(f: dict) -> str:
    m, rev = f["machine"], f["revision"]
    dirty = (f" Uncommitted changes measured with it: {', '.join(rev['uncommitted'])}."
             if rev["uncommitted"] else "")
    quick = " **Quick run (short rounds): not for quoting.**" if f.get("quick") else ""
    return (f"# Benchmark report\n\n"
            f"Measured {f['date']} at commit `{rev['commit']}` ({rev['subject']}).{dirty}"
            f"{quick}\n\n"
            f"Machine: {m['cores']} cores ({m['usable_cores']} usable), {m['cpu_model']}, Linux "
            f"{m['kernel']}; {m['python']}, grpcio {m['grpcio']}, protobuf {m['protobuf']}, "
            f"numpy {m['numpy']}. One-minute load average {f['load_average_before']:.2f} before "
            f"the run, {f['load_average_after']:.2f} after (other work on the machine).\n\n"
            "Every sidecar figure is a ratio to its floor, a do-nothing server serving the same "
            "contract (`bench/floor_server.py`), measured in the same run in rounds that "
            "alternate the two. Reproduce with `make bench` (`BENCH_SCALE=0 make bench` skips "
            "the scale section).")


def _verdict(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "**missed**")


def target_rows(f: dict) -> list[tuple[str, str, str, str, str, bool | None]]:
    """(figure, floor, sidecar, ratio, target, met) for every target of issue 13."""
    rows, unary = [], f["grpc"]["unary"]
    for p in ("p50", "p99"):
        ratio, target = unary[f"{p}_ratio"], unary[f"{p}_target"]
        rows.append((f"`Check` {p}", f"{unary['floor'][f'{p}_ms']:.3f} ms",
                     f"{unary['sidecar'][f'{p}_ms']:.3f} ms", f"{ratio:.2f}x",
                     f"<= {target}x", ratio <= target))
    for cell in f["grpc"]["batches"]:
        if cell.get("target") is None:
            continue
        name = f"`{cell['rpc']}`, {cell['size']:,} {cell['shape']} records"
        if "not_measured" in cell:
            rows.append((name, "", "", "", f">= {cell['target']}", None))
            continue
        target, met = f">= {cell['target']}", cell["ratio"] >= cell["target"]
        if cell["rpc"] == "CheckColumns":
            target += " and > 1,000,000 rec/s"
            met = met and cell["sidecar_rps"] > 1_000_000
        rows.append((name, f"{cell['floor_rps']:,.0f} rec/s", f"{cell['sidecar_rps']:,.0f} rec/s",
                     f"{cell['ratio']:.2f}", target, met))
    workers = f["workers"]
    for r in workers.get("results", []):
        one, two = r["workers_1"], r["workers_2"]
        rows.append((f"`--workers 2` / `--workers 1` (`{r['rpc']}`, {r['records_per_call']:,} "
                     "records, best load of each)",
                     f"{one['rps']:,.0f} rec/s (1 worker, {one['calls_in_flight']} in flight)",
                     f"{two['rps']:,.0f} rec/s (2 workers, {two['calls_in_flight']} in flight)",
                     f"{r['ratio']:.2f}x",
                     f">= {r['target']}x", r["ratio"] >= r["target"]))
    if "not_measured" in workers:
        rows.append(("`--workers 2` / `--workers 1`", "", "", workers["not_measured"],
                     ">= 1.4x", None))
    return rows


def targets_table(f: dict) -> str:
    lines = ["## Targets (issue 13)", "", "| figure | floor | sidecar | ratio | target | |",
             "|---|--:|--:|--:|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} | {e} | {_verdict(met)} |"
              for a, b, c, d, e, met in target_rows(f)]
    return "\n".join(lines)


def unary_section(g: dict) -> str:
    u = g["unary"]
    lines = ["## Unary `Check`", "", "| server | p50 | p99 | calls |", "|---|--:|--:|--:|"]
    lines += [f"| {name} | {u[name]['p50_ms']:.3f} ms | {u[name]['p99_ms']:.3f} ms | "
              f"{u[name]['calls']:,} |" for name in ("floor", "sidecar")]
    lines += ["", f"p50 {u['p50_ratio']:.2f}x and p99 {u['p99_ratio']:.2f}x the floor's; one "
              "call in flight, alternating between the two servers call by call; requests "
              "serialized beforehand, records drawn from all accounts.", "",
              f"Limited by: {limits.unary(u)}"]
    return "\n".join(lines)


def batch_section(g: dict) -> str:
    lines = ["## Batches: records per second", "",
             "| RPC | batch | records/call | floor rec/s | sidecar rec/s | ratio | "
             "CPU µs/record floor | sidecar |", "|---|---|--:|--:|--:|--:|--:|--:|"]
    for c in g["batches"]:
        if "not_measured" in c:
            lines.append(f"| {c['rpc']} | {c['shape']} | {c['size']:,} | | | "
                         f"not measured: {c['not_measured']} | | |")
            continue
        lines.append(f"| {c['rpc']} | {c['shape']} | {c['size']:,} | {c['floor_rps']:,.0f} | "
                     f"{c['sidecar_rps']:,.0f} | {c['ratio']:.2f} | "
                     f"{c['floor_cpu_us_per_record']:.2f} | {c['sidecar_cpu_us_per_record']:.2f} |")
    lines += ["", f"{g['accounts']:,} accounts; \"pipeline\" batches draw their records from 100 "
              "of them, \"scattered\" ones from all (see `bench/workload.py`). One call in flight "
              "(a stream: two messages), requests serialized beforehand, replies taken as bytes; "
              f"{g['rounds']} rounds of {g['seconds_per_round']} s per server, alternating; ratio "
              "= median of the per-round ratios. CPU is the server process's, per record.", "",
              "![records per second against batch size](report.png)", ""]
    lines += [f"Limited by ({rpc}): {text}" for rpc, text in limits.batches(g["batches"])]
    return "\n".join(lines)


def workers_section(w: dict) -> str:
    lines = ["## `--workers 1` against `--workers 2`", ""]
    if "not_measured" in w:
        return "\n".join([*lines, f"Not measured: {w['not_measured']}."])
    lines += ["| RPC | calls in flight | connections per worker (2 workers) | 1 worker rec/s | "
              "cores | generators' cores | 2 workers rec/s | cores | generators' cores | "
              "ratio |", "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|"]
    for r in w["results"]:
        for load in r["loads"]:
            one, two = load["workers_1"], load["workers_2"]
            spread = "/".join(map(str, load["connections_per_worker"]["2"]))
            lines.append(f"| {r['rpc']} | {load['calls_in_flight']} | {spread} | "
                         f"{one['rps']:,.0f} | {one['server_cores']:.2f} | "
                         f"{one['client_cores']:.2f} | {two['rps']:,.0f} | "
                         f"{two['server_cores']:.2f} | {two['client_cores']:.2f} | "
                         f"{load['ratio']:.2f}x |")
    lines += ["", f"Load: {w['clients']} generator processes (`bench/load_client.py`) sending "
              "one pre-serialized request of 10,000 pipeline records over one or more "
              "connections each, replies left as bytes; the kernel spreads connections over "
              f"the workers (SO_REUSEPORT). {w['seconds_per_round']} s rounds alternating the "
              "two servers. The headline ratio compares each server at the load that suits it "
              "best. On this machine the generators run on the same cores as the server: "
              "their share is in the table.", "", f"Limited by: {limits.workers(w)}"]
    return "\n".join(lines)


def observability_section(o: dict) -> str:
    lines = ["## The cost of metrics and receipts (issue 16)", "",
             "| RPC | sidecar | rec/s (median) | range | of plain | target | | CPU µs/record | "
             "receipts spooled |", "|---|---|--:|---|--:|---|---|--:|---|"]
    for rpc, servers in _observed_rpcs(o).items():
        for name, s in servers.items():
            target = s["target"]
            spooled = (f"{s['spooled']:,} of {s['sent']:,}" if "sent" in s else "")
            cpu = f"{s['cpu_us_per_record']:.2f}" if "cpu_us_per_record" in s else ""
            lines.append(f"| {rpc} | {name} | {s['rps']:,.0f} | {s['rps_min']:,.0f}–"
                         f"{s['rps_max']:,.0f} | {s['ratio']:.2f} | "
                         f"{'' if target is None else f'>= {target}'} | "
                         f"{'' if target is None else _verdict(s['ratio'] >= target)} | {cpu} | "
                         f"{spooled} |")
    lines += ["", f"Four `maytrain serve --workers 1` on one store, side by side: plain, "
              "`--metrics-listen`, `--receipts` at sample 1.0 and both; calls of "
              f"{o['records_per_call']:,} pipeline records, one in flight, "
              f"{o['rounds']} rounds of {o['seconds_per_round']} s per server and RPC in "
              "alternating order; ratio = median of the per-round ratios to plain "
              "(`bench/observability_bench.py`). The targets are the issue's, on `CheckBatch`. "
              "Receipts spooled are counted in each server's spool after it stopped: every "
              "decision it was sent is there, or the row says how many were dropped.", "",
              f"Limited by: {limits.observability(o)}"]
    return "\n".join(lines)


def _observed_rpcs(o: dict) -> dict:
    """Figures by RPC (a report from before CheckColumns was measured held CheckBatch's)."""
    return o["rpcs"] if "rpcs" in o else {"CheckBatch": o["servers"]}


def scale_section(s: dict) -> str:
    lines = ["## Scale: memory and start", ""]
    if "skipped" in s:
        return "\n".join([*lines, f"Not measured: {s['skipped']}."])
    results, goals = s["results"], s["goals"]
    lines += ["| figure | " + " | ".join(f"{int(r['accounts']):,} accounts" for r in results)
              + " | goal |", "|---|" + "--:|" * len(results) + "---|"]
    for label, key, goal, sign in SCALE_ROWS:
        cells = " | ".join(f"{r[key]:,.2f}" if key in r else "not measured" for r in results)
        lines.append(f"| {label} | {cells} | {f'{sign} {goals[goal]}' if goal else ''} |")
    lines += ["", f"A real `maytrain serve --workers 1` over a cached SQLite store, 3 consent "
              f"entries per account, keyed snapshot file (`bench/scale_bench.py`). At "
              f"{int(s['biggest_accounts']):,} accounts it holds {s['anonymous_held_mb']:,.0f} MB "
              f"anonymous (interpreter included): {s['headroom_mb']:,.0f} MB of the chart's "
              f"{s['chart_limit_mb']:,.0f} MB limit free.", "", f"Limited by: {limits.scale(s)}"]
    return "\n".join(lines)


def render_chart(f: dict, path: Path) -> None:
    """Records per second against records per call, floor dashed, one panel per shape."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = [c for c in f["grpc"]["batches"] if "not_measured" not in c]
    shapes = sorted({c["shape"] for c in cells}, key=["pipeline", "scattered"].index)
    figure, axes = plt.subplots(1, len(shapes), figsize=(11, 4.5), sharey=True, squeeze=False)
    for axis, shape in zip(axes[0], shapes, strict=True):
        for rpc, color in RPC_COLORS.items():
            mine = sorted((c for c in cells if c["rpc"] == rpc and c["shape"] == shape),
                          key=lambda c: c["size"])
            if not mine:
                continue
            sizes = [c["size"] for c in mine]
            axis.plot(sizes, [c["sidecar_rps"] for c in mine], "o-", color=color, label=rpc)
            axis.plot(sizes, [c["floor_rps"] for c in mine], "x--", color=color, alpha=0.6,
                      label=f"{rpc} floor")
        axis.set(xscale="log", yscale="log", title=f"{shape} batches",
                 xlabel="records per call")
        axis.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("records per second")
    axes[0][-1].legend(fontsize=8)
    rev = f["revision"]
    figure.suptitle(f"maytrain sidecar (solid) against its floor (dashed), {f['date'][:10]}, "
                    f"commit {rev['commit']}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
