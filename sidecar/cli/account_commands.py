"""`maytrain account add|update`: the accounts (tenants) the store knows, with their region."""

from __future__ import annotations

import argparse

from ..store import WriteResult
from . import options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `account` command group."""
    account = subparsers.add_parser("account", help="add or update accounts")
    commands = account.add_subparsers(dest="account_command", metavar="COMMAND", required=True)
    common = options.common_parent()
    add = commands.add_parser("add", parents=[common], help="add an account",
                              description="Add an account (a customer) to the store.")
    add.add_argument("account_id", metavar="ACCOUNT_ID")
    add.add_argument("--region", default="", metavar="CODE",
                     help="home region: an assigned ISO 3166 country (DE) or subdivision (US-CA), "
                          "or a group (EU) or alias (UK) the policy declares")
    add.set_defaults(handler=add_account)
    update = commands.add_parser("update", parents=[common], help="change an account's region",
                                 description="Change an account's home region ('' clears it).")
    update.add_argument("account_id", metavar="ACCOUNT_ID")
    update.add_argument("--region", required=True, metavar="CODE",
                        help="the new home region ('' clears it)")
    update.set_defaults(handler=update_account)


def add_account(args: argparse.Namespace) -> int:
    """Add the account; print the new consent version."""
    with options.open_for(args) as store:
        result = store.add_account(args.account_id, args.region, actor=options.actor(args))
    return _report(args, "added", result)


def update_account(args: argparse.Namespace) -> int:
    """Change the account's region; print the new consent version."""
    with options.open_for(args) as store:
        result = store.update_account(args.account_id, args.region, actor=options.actor(args))
    return _report(args, "updated", result)


def _report(args: argparse.Namespace, verb: str, result: WriteResult) -> int:
    account = result.row
    region = f" (region {account.region})" if account.region else " (no region)"
    return options.emit(
        args, {"consent_version": result.version, "id": account.account_id,
               "region": account.region or None},
        f"{verb} account {account.account_id}{region} at consent version {result.version}")
