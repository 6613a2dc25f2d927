"""`maytrain receipts DIR`: the decision receipts of a spool, filtered, optionally followed.

Prints the matching receipts as they are stored (JSON Lines, oldest first) and exits 0;
lines that are not receipts (a line torn by a crash) are skipped and counted on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..core.model import Reason, Verdict
from ..observability.receipts import ReceiptFilter, read_receipts
from ..observability.receipts.lines import receipt_time
from ..observability.receipts.reader import ReadStats
from . import options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `receipts`."""
    command = subparsers.add_parser(
        "receipts", help="read a decision receipt spool",
        description="Print the decision receipts in DIR that match every filter given.")
    command.add_argument("directory", metavar="DIR", help="the spool (serve --receipts DIR)")
    command.add_argument("--account", help="only this account's decisions")
    command.add_argument("--user", help="only this user's decisions")
    command.add_argument("--verdict", type=str.upper, choices=[v.value for v in Verdict])
    command.add_argument("--reason", type=_reason, metavar="REASON",
                         help="e.g. DENIED_OPTED_OUT")
    command.add_argument("--since", metavar="T", help="decided at or after T (ISO 8601, zone)")
    command.add_argument("--until", metavar="T", help="decided before T (ISO 8601, zone)")
    command.add_argument("--min-version", metavar="V", type=int,
                         help="decided at consent version V or later")
    command.add_argument("--follow", action="store_true",
                         help="keep printing receipts as they are written (Ctrl-C ends)")
    options.add_json_option(command, "accepted for symmetry: receipts are JSON Lines anyway")
    command.set_defaults(handler=receipts_command)


def receipts_command(args: argparse.Namespace) -> int:
    """Print the matching receipts; 0 unless the directory is missing."""
    directory = Path(args.directory)
    if not directory.is_dir():
        return options.error(f"{directory} is not a receipt spool (no such directory)",
                             options.EXIT_USAGE)
    wanted = ReceiptFilter(account=args.account, user=args.user, verdict=args.verdict,
                           reason=args.reason, since=_time(args.since, "--since"),
                           until=_time(args.until, "--until"), min_version=args.min_version)
    stats = ReadStats()
    try:
        for line in read_receipts(directory, wanted, follow=args.follow, stats=stats):
            sys.stdout.write(line)
            if args.follow:
                sys.stdout.flush()
    except KeyboardInterrupt:  # how --follow ends
        pass
    except BrokenPipeError:  # `| head`: the reader has seen enough; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return options.EXIT_OK
    if stats.skipped:
        print(f"maytrain: skipped {stats.skipped} line(s) that are not receipts (torn by a "
              "crash, or foreign)", file=sys.stderr)
    return options.EXIT_OK


def _time(value: str | None, option: str) -> str | None:
    micros = options.timestamp(value, option)
    return None if micros is None else receipt_time(micros)


def _reason(value: str) -> str:
    name = value.upper().removeprefix("REASON_")
    if name not in Reason.__members__:
        raise argparse.ArgumentTypeError(
            f"unknown reason {value!r}; one of {', '.join(Reason.__members__)}")
    return name
