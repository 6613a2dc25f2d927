"""`maytrain erasure request`: stop all processing of an account's or a user's data."""

from __future__ import annotations

import argparse

from . import options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `erasure` command group."""
    erasure = subparsers.add_parser("erasure", help="record erasure requests")
    commands = erasure.add_subparsers(dest="erasure_command", metavar="COMMAND", required=True)
    request = commands.add_parser(
        "request", parents=[options.common_parent()], help="record an erasure request",
        description="Record that an account's data (or one user's) must not be processed. "
                    "It binds from its consent version on.")
    request.add_argument("--account", required=True, metavar="ID", help="the account id")
    request.add_argument("--user", default="", metavar="ID", help="only this user's data")
    request.set_defaults(handler=request_erasure)


def request_erasure(args: argparse.Namespace) -> int:
    """Record the erasure; print its id and the new consent version."""
    with options.open_for(args) as store:
        result = store.request_erasure(args.account, args.user, actor=options.actor(args))
    who = f"user {args.user} of account {args.account}" if args.user else f"account {args.account}"
    return options.emit(
        args, {"consent_version": result.version, "id": result.row_id},
        f"recorded erasure {result.row_id} of {who} at consent version {result.version}")
