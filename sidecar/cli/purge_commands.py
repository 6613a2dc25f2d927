"""`maytrain purge-plan`: which records already taken into a training set are no longer
allowed, found by re-deciding their lineage manifests now.

Reads the store and policy (--store, --policy) or asks a running sidecar (--target). Each
record now denied is one JSON line (to --out, else stdout); the summary goes to stderr, as
one JSON object with --json, so stdout only ever carries the plan. Exit 0 when nothing
needs purging, 3 when something does, 2 on any failure — and a failed plan writes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from . import options

if TYPE_CHECKING:
    from ..purge.deciders import Decider
    from ..purge.manifests import ManifestReader
    from ..purge.output import PlanCounts

EXIT_NOTHING, EXIT_PURGE, EXIT_FAILED = 0, 3, 2
_SHOWN = 10  # accounts named in the readable summary


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `purge-plan`."""
    command = subparsers.add_parser(
        "purge-plan", parents=[options.common_parent()],
        help="list the records already taken that are no longer allowed",
        description="Re-decide, now, every manifest record that was allowed when it was "
                    "taken, and list those now denied (one JSON line each). Exit 0 nothing "
                    "to purge, 3 something to purge, 2 on any failure.")
    command.add_argument("--manifest", action="append", required=True, metavar="PATH",
                         help="a lineage manifest (.jsonl, or .parquet), or a directory of "
                              "them (manifest-*: one per Spark task or Ray actor); repeat "
                              "for more")
    command.add_argument("--since-version", type=_version, metavar="V",
                         help="re-decide only the accounts a restricting change after "
                              "consent version V touched (V: the last plan's version)")
    command.add_argument("--out", metavar="PLAN", help="write the plan here (default stdout)")
    command.add_argument("--target", help="ask the sidecar at this address instead of "
                                          "reading the store")
    command.add_argument("--min-version", type=_version, default=0, metavar="V",
                         help="decide at consent version V or later")
    command.set_defaults(handler=purge_plan_command)


def _version(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"a consent version is a whole number >= 0, not {text!r}")
    return value


def purge_plan_command(args: argparse.Namespace) -> int:
    """Make the plan; print the summary; exit 0, 3 or 2."""
    started = time.monotonic()
    from ..purge.output import PlanOutput

    planner = _planner()
    output = None
    try:
        reader = planner.reader(args.manifest)
        with _decider(args, planner) as (decider, accounts, version):
            output = PlanOutput(args.out)
            progress = Progress(reader) if sys.stderr.isatty() else None
            counts = planner.make_plan(reader, decider, output.file, accounts=accounts,
                                       progress=progress.show if progress else None)
            if progress:
                progress.clear()
            output.publish()
            plan_version = version if version is not None else decider.consent_version
    except BaseException as exc:  # every failure is exit 2, and leaves no plan behind
        if output is not None:
            output.discard()
        if not isinstance(exc, Exception | KeyboardInterrupt):
            raise
        return options.error(_failure(exc), EXIT_FAILED)
    summary = _summary(args, counts, decider, plan_version, accounts, time.monotonic() - started)
    summary["manifest_files"] = len(reader.paths)
    print(json.dumps(summary, sort_keys=True) if args.json else _readable(summary),
          file=sys.stderr)
    return EXIT_PURGE if counts.to_purge else EXIT_NOTHING


class Planner(NamedTuple):
    """How a plan reads manifests and decides them: with pyarrow, or without it."""

    reader: Any
    make_plan: Any
    store_decider: Any
    sidecar_decider: Any


def _planner() -> Planner:
    """The Arrow plan where pyarrow is installed; else the plain one, for JSON Lines only
    (a sidecar install need not have pyarrow: its image has none)."""
    if importlib.util.find_spec("pyarrow") is None:
        from ..purge import plain

        return Planner(plain.PlainReader, plain.make_plain_plan, plain.PlainStoreDecider,
                       plain.PlainSidecarDecider)
    from ..purge import deciders, manifests, plan

    return Planner(manifests.ManifestReader, plan.make_plan, deciders.StoreDecider,
                   deciders.SidecarDecider)


@contextlib.contextmanager
def _decider(args: argparse.Namespace,
             planner: Planner) -> Iterator[tuple[Decider, set[str] | None, int | None]]:
    """Who decides, the accounts to re-decide (None: all), and the version of the plan
    when it is not the decider's."""
    from ..policy_files import load_policy
    from ..purge.changed import accounts_changed_at_sidecar, accounts_changed_in_store
    from ..store import open_store

    if args.target is None:
        chosen = options.settings(args)
        policy = load_policy(chosen.policy)
        with open_store(chosen.store, policy=policy,
                        password_file=chosen.store_password_file) as store:
            decider = planner.store_decider(store, policy, min_version=args.min_version)
            accounts = None if args.since_version is None else accounts_changed_in_store(
                store, args.since_version, decider.index.version, decider.now)  # type: ignore[arg-type]
            yield decider, accounts, None
        return
    from maytrain.client import ConsentClient

    with ConsentClient(args.target) as client:
        if args.since_version is None:
            yield planner.sidecar_decider(client, min_version=args.min_version), None, None
            return
        accounts, reached = accounts_changed_at_sidecar(client, args.since_version)
        minimum = max(args.min_version, reached)
        yield planner.sidecar_decider(client, min_version=minimum), accounts, reached


def _summary(args: argparse.Namespace, counts: PlanCounts, decider: Decider,
             version: int | None, accounts: set[str] | None, seconds: float) -> dict[str, Any]:
    return {
        "manifests": args.manifest, "plan": args.out, "records": counts.records,
        "allowed_when_taken": counts.allowed_when_taken, "redecided": counts.redecided,
        "to_purge": counts.to_purge, "by_reason": dict(counts.by_reason.most_common()),
        "by_account": dict(counts.by_account.most_common()), "consent_version": version,
        "policy_version": decider.policy_version, "since_version": args.since_version,
        "accounts_changed": None if accounts is None else len(accounts),
        "other_policy": counts.other_policy, "seconds": round(seconds, 3),
    }


def _readable(summary: dict[str, Any]) -> str:
    lines = [f"purge plan: {summary['to_purge']:,} of {summary['allowed_when_taken']:,} records "
             f"allowed when taken are now denied ({summary['records']:,} read from "
             f"{summary['manifest_files']:,} manifest file(s), {summary['redecided']:,} re-decided in "
             f"{summary['seconds']:.1f} s)"]
    if summary["since_version"] is not None:
        lines.append(f"re-decided only the {summary['accounts_changed']:,} account(s) that "
                     f"restricting changes after consent version {summary['since_version']} "
                     "touched")
    lines.append(f"decided at consent version {summary['consent_version']}, policy "
                 f"{summary['policy_version'] or '(none answered)'}")
    for title in ("by_reason", "by_account"):
        counted = list(summary[title].items())
        if counted:
            lines.append(title.replace("_", " ") + ":")
            lines += [f"  {name:<32} {count:>12,}" for name, count in counted[:_SHOWN]]
            if len(counted) > _SHOWN:
                lines.append(f"  … and {len(counted) - _SHOWN:,} more")
    if summary["since_version"] is not None and summary["other_policy"]:
        lines.append(f"note: {summary['other_policy']:,} re-decided record(s) were taken under "
                     "another policy version; --since-version follows consent changes only, "
                     "so after a policy change make a full plan")
    if summary["consent_version"] is not None:
        lines.append(f"the next plan can start from --since-version {summary['consent_version']}")
    return "\n".join(lines)


def _failure(exc: BaseException) -> str:
    from ..purge.lines import ManifestError
    from ..purge.store_rules import PlanFailed

    if isinstance(exc, KeyboardInterrupt):
        return "interrupted; no plan was written"
    known = isinstance(exc, ManifestError | PlanFailed | OSError)
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"{text}; no plan was written" if known else f"{type(exc).__name__}: {exc}; no plan was written"


class Progress:
    """A one-line progress bar on stderr: records done, their rate, and time left."""

    def __init__(self, reader: ManifestReader, every: float = 0.25) -> None:
        self.reader, self.every = reader, every
        self.started, self.shown = time.monotonic(), float("-inf")  # the first is shown

    def show(self, records: int) -> None:
        now = time.monotonic()
        if now - self.shown < self.every:
            return
        self.shown = now
        sys.stderr.write("\r" + progress_line(records, now - self.started, self.reader.fraction))
        sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r" + " " * 79 + "\r")
        sys.stderr.flush()


def progress_line(records: int, elapsed: float, fraction: float) -> str:
    """`1,234,567 records  412,345/s  37%  0:00:12 left`, for a progress bar."""
    rate = records / elapsed if elapsed > 0 else 0.0
    left = elapsed * (1 - fraction) / fraction if fraction > 0 else None
    width = 20
    bar = "#" * int(width * fraction) + "." * (width - int(width * fraction))
    remaining = "?" if left is None else time.strftime("%H:%M:%S", time.gmtime(left))
    return (f"[{bar}] {fraction:4.0%}  {records:,} records  {rate:,.0f}/s  "
            f"{remaining} left")
