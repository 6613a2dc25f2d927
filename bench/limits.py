"""What limits each figure of the report, one line each, from the figures themselves and
from py-spy profiles of the sidecar under the same load (the PROFILED commit).

The profile findings are text: when the hot path changes, profile again
(`py-spy record -n -p PID` while grpc_bench.py runs) and update them here.
"""

from __future__ import annotations

PROFILED = "d5785a5"  # the hot path
COLD_PROFILED = "798986d"  # a cold start at 1,000,000 accounts
RECEIPTS_PROFILED = "8a0152f"  # CheckBatch with --receipts at sample 1.0
COLUMNAR_RECEIPT_BYTES = 23  # a pipeline receipt in a CheckColumns line (85 bytes as text)


def unary(u: dict) -> str:
    """The unary Check line."""
    floor, extra = u["floor"]["p50_ms"] * 1e3, (u["sidecar"]["p50_ms"] - u["floor"]["p50_ms"]) * 1e3
    return (f"gRPC's cost per call in Python, which the floor pays too ({floor:.0f} µs at the "
            f"median); the sidecar adds {extra:.0f} µs a call to convert the record, decide it "
            "and observe the call.")


def _cell(cells: list[dict], rpc: str, shape: str, size: int) -> dict | None:
    return next((c for c in cells if (c["rpc"], c["shape"], c["size"]) == (rpc, shape, size)
                 and "not_measured" not in c), None)


def batches(cells: list[dict]) -> list[tuple[str, str]]:
    """(RPC, line) for each batch RPC measured."""
    lines = []
    for rpc in ("CheckBatch", "CheckStream"):
        big, small = _cell(cells, rpc, "pipeline", 10_000), _cell(cells, rpc, "pipeline", 100)
        if big and small:
            lines.append((rpc, _records_line(big, small)))
    big = _cell(cells, "CheckColumns", "pipeline", 10_000)
    spread = _cell(cells, "CheckColumns", "scattered", 10_000)
    if big and spread:
        lines.append(("CheckColumns", _columns_line(big, spread)))
    return lines


def _records_line(big: dict, small: dict) -> str:
    per_call = 100 / small["sidecar_rps"] * 1e6
    return (f"work per record: at 10,000 pipeline records the sidecar spends "
            f"{big['sidecar_cpu_us_per_record']:.2f} µs of CPU a record against the floor's "
            f"{big['floor_cpu_us_per_record']:.2f} (both parse the request and build a Decision "
            f"message per record); py-spy at {PROFILED} puts 55% of the sidecar's handler in "
            "turning wire records into the core's, 19% in decide_batch, 17% in building the "
            "answer, and garbage collection inside all three. At 100 records a call costs "
            f"{per_call:.0f} µs, mostly gRPC's and the handler's fixed cost.")


def _columns_line(big: dict, spread: dict) -> str:
    return (f"the decision per distinct key: a 10,000-record pipeline batch holds "
            f"{big['distinct_keys']:,} distinct keys and runs at "
            f"{big['sidecar_rps']:,.0f} rec/s, a scattered one {spread['distinct_keys']:,} keys "
            f"at {spread['sidecar_rps']:,.0f} rec/s ({spread['sidecar_cpu_us_per_record']:.1f} "
            f"µs of CPU a record). py-spy at {PROFILED}: on scattered batches the handler is "
            "Python per distinct key, planning each (half) and gathering each key's window "
            "checks into arrays (most of the rest); on pipeline ones deciding is a third of it "
            "and gRPC's send of the reply, which the floor pays too, most of the rest. The "
            f"floor does no work per record: its {big['floor_rps']:,.0f} rec/s is the cost of "
            f"moving a {big['request_bytes'] / 1024:,.0f} KiB request through gRPC.")


def workers(w: dict) -> str:
    """The --workers line."""
    r = w["results"][0]
    one = [(load["calls_in_flight"], load["workers_1"]["rps"]) for load in r["loads"]]
    two = r["workers_2"]
    by_load = ", ".join(f"{rps / 1e6:.2f}M at {n}" for n, rps in one)
    falls = one[-1][1] < 0.9 * max(rps for _, rps in one)
    single = (f"; it loses throughput as more calls are in flight at once (rec/s by calls in "
              f"flight: {by_load}), its handler threads sharing one interpreter lock"
              if falls else f" (rec/s by calls in flight: {by_load})")
    return (f"the machine's two cores, shared with the load generators: two workers used "
            f"{two['server_cores']:.2f} cores and their generators {two['client_cores']:.2f}; "
            f"one worker holds about one core{single}.")


def observability(o: dict) -> str:
    """The metrics and receipts line."""
    rpcs = o["rpcs"] if "rpcs" in o else {"CheckBatch": o["servers"]}
    plain, spooling = rpcs["CheckBatch"]["plain"], rpcs["CheckBatch"]["receipts"]
    extra = spooling.get("cpu_us_per_record", 0) - plain.get("cpu_us_per_record", 0)
    cost = (f"cost {extra:.2f} µs of CPU a record here" if extra > 0 else
            "cost no CPU this run could tell from the noise (0.3 to 0.5 µs a record in longer ones)")
    line = ("metrics count once per call (a tally of the reasons, two histogram observations: "
            "under 1 ms of a 40 ms call), so their figure is the machine's noise; receipts "
            f"{cost}, nearly all of it on the checking thread "
            "(formatting the line: the records are cold in the CPU's caches by then, so each "
            "column is gathered and joined before the next; py-spy at "
            f"{RECEIPTS_PROFILED}, which gathered every column first, put 10.7% of that "
            "thread's time in formatting), while the writer thread and its fsyncs take under "
            "0.1 µs a record.")
    columns = rpcs.get("CheckColumns", {}).get("receipts")
    if columns is not None:
        line += (f" `CheckColumns` decides a record in a twentieth of the time, so its "
                 f"receipts cost it {1 - columns['ratio']:.0%} of its rate even though its "
                 f"line is dictionary-encoded ({COLUMNAR_RECEIPT_BYTES} bytes a receipt, "
                 f"{columns['rps'] * COLUMNAR_RECEIPT_BYTES / 1e6:,.0f} MB/s at "
                 f"{columns['rps']:,.0f} rec/s): most of it is making a Python string of "
                 "each record id and account from the request's dictionaries, which the "
                 "decision never needs (sampling saves the disk, not the CPU: the draw "
                 "hashes every record id).")
    return line


def scale(s: dict) -> str:
    """The scale line."""
    big = max(s["results"], key=lambda r: r["accounts"])
    return (f"cold start is reading and indexing every store row ({big['cold_s']:.1f} s at "
            f"{int(big['accounts']):,} accounts; py-spy at {COLD_PROFILED}: about 60% in the "
            "grouped snapshot's SQL selects, `sidecar/store/sql/grouped.py`, 25% packing the "
            "index); a start from the store's pack (`store pack`) is fetching, hashing and "
            f"mapping it and following the changes after it ({big.get('packed_cold_s', 0):.1f} "
            "s); warm start is checking and mapping the "
            f"snapshot file ({big['warm_s']:.1f} s); memory is the anonymous heap, the mapped "
            "file's pages being page cache the kernel may reclaim.")
