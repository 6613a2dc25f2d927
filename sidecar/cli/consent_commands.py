"""`maytrain consent grant|opt-out|withdraw|list`: the consent history of accounts and users.

An opt-out without --valid-from and a withdrawal without --at take effect from their
consent version; a grant without --valid-from starts at this machine's clock.
"""

from __future__ import annotations

import argparse

from ..core.model import ConsentEntry, Effect
from ..store import ConsentRequest, NotFoundError
from . import options

_TIME = "ISO 8601 with a zone, e.g. 2026-01-31T12:00:00Z"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `consent` command group."""
    consent = subparsers.add_parser("consent", help="grant, opt out, withdraw, list consent")
    commands = consent.add_subparsers(dest="consent_command", metavar="COMMAND", required=True)
    common = options.common_parent()
    grant = commands.add_parser("grant", parents=[common], help="record an opt-in",
                                description="Record an opt-in (GRANT).")
    _entry_options(grant, Effect.GRANT)
    opt_out = commands.add_parser("opt-out", parents=[common], help="record an opt-out",
                                  description="Record an opt-out; without --valid-from it "
                                              "binds from its consent version.")
    _entry_options(opt_out, Effect.OPT_OUT)
    withdraw = commands.add_parser("withdraw", parents=[common], help="end a consent entry",
                                   description="End a grant or opt-out (it stays in the history).")
    withdraw.add_argument("entry_id", metavar="CONSENT_ID")
    withdraw.add_argument("--at", metavar="TIME", help=f"end at this time ({_TIME}); "
                                                       "default: from this write's version")
    withdraw.set_defaults(handler=withdraw_entry)
    listing = commands.add_parser("list", parents=[common], help="list an account's entries",
                                  description="List the consent entries of an account "
                                              "(every level), or of one user with --user.")
    listing.add_argument("--account", required=True, metavar="ID", help="the account id")
    listing.add_argument("--user", metavar="ID", help="only this user's entries")
    listing.set_defaults(handler=list_entries)


def _entry_options(parser: argparse.ArgumentParser, effect: Effect) -> None:
    parser.add_argument("--account", required=True, metavar="ID", help="the account id")
    parser.add_argument("--user", default="", metavar="ID",
                        help="a user in the account (user level)")
    parser.add_argument("--category", required=True, metavar="KEY",
                        help="category scope (any node of the taxonomy)")
    parser.add_argument("--purpose", required=True, metavar="KEY",
                        help="purpose scope (any node of the purpose tree)")
    parser.add_argument("--valid-from", metavar="TIME", help=f"start ({_TIME})")
    parser.add_argument("--valid-until", metavar="TIME", help=f"end, exclusive ({_TIME})")
    if effect is Effect.GRANT:
        parser.add_argument("--covers-data-from", metavar="TIME",
                            help="covers data collected from this time (default: --valid-from)")
    parser.add_argument("--evidence", default="", metavar="TEXT",
                        help="where the consent is documented")
    parser.set_defaults(handler=record_entry, effect=effect)


def record_entry(args: argparse.Namespace) -> int:
    """Record a grant or an opt-out; print its id and the new consent version."""
    request = ConsentRequest(
        account_id=args.account, user_id=args.user, category=args.category,
        purpose=args.purpose, effect=args.effect,
        valid_from=options.timestamp(args.valid_from, "--valid-from"),
        valid_until=options.timestamp(args.valid_until, "--valid-until"),
        covers_data_from=options.timestamp(getattr(args, "covers_data_from", None),
                                           "--covers-data-from"),
        evidence=args.evidence)
    with options.open_for(args) as store:
        result = store.record_consent(request, actor=options.actor(args))
    verb = "granted" if args.effect is Effect.GRANT else "opted out"
    return options.emit(args, {"consent_version": result.version, "id": result.row_id},
                        f"{verb}: entry {result.row_id} at consent version {result.version}")


def withdraw_entry(args: argparse.Namespace) -> int:
    """End an entry; print the new consent version."""
    at = options.timestamp(args.at, "--at")
    with options.open_for(args) as store:
        result = store.withdraw(args.entry_id, at=at, actor=options.actor(args))
    when = f"at {args.at}" if at is not None else "from this version on"
    return options.emit(args, {"consent_version": result.version, "id": result.row_id},
                        f"withdrew entry {result.row_id} ({when}) at consent version "
                        f"{result.version}")


def list_entries(args: argparse.Namespace) -> int:
    """Print an account's (or a user's) entries, oldest first."""
    with options.open_for(args) as store:
        if store.account(args.account) is None:
            raise NotFoundError(f"account {args.account!r} is not in the store")
        entries = store.consents(args.account, args.user)
    payload = {"account": args.account, "user": args.user,
               "entries": [entry_json(e) for e in entries]}
    return options.emit(args, payload, entries_table(entries) if entries else
                        f"no consent entries for account {args.account}"
                        + (f" user {args.user}" if args.user else ""))


def entry_json(entry: ConsentEntry) -> dict:
    """An entry for --json output; times as ISO 8601, absent values as null."""
    return {
        "id": entry.entry_id, "account": entry.account_id, "user": entry.user_id or None,
        "category": entry.category, "purpose": entry.purpose, "effect": entry.effect.value,
        "valid_from": options.iso(entry.valid_from),
        "valid_until": options.iso(entry.valid_until),
        "covers_data_from": options.iso(entry.covers_data_from),
        "evidence": entry.evidence, "recorded_at": options.iso(entry.recorded_at),
        "recorded_by": entry.recorded_by, "version": entry.version,
        "ended_version": entry.ended_version,
    }


def entries_table(entries: list[ConsentEntry]) -> str:
    """Aligned columns, one entry a line, with a header."""
    header = ("ID", "EFFECT", "USER", "CATEGORY", "PURPOSE", "FROM", "UNTIL", "VERSION")
    rows = [header] + [_cells(e) for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _cells(entry: ConsentEntry) -> tuple[str, ...]:
    start = options.iso(entry.valid_from) or f"version {entry.version}"
    if entry.ended_version is not None:
        until = f"withdrawn at version {entry.ended_version}"
    else:
        until = options.iso(entry.valid_until) or "-"
    return (entry.entry_id, entry.effect.value, entry.user_id or "-", entry.category,
            entry.purpose, start, until, str(entry.version))
