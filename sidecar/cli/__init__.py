"""The `maytrain` command line: each command group lives in its own module.

A module exposes `register(subparsers)`, adds its parsers with
`parents=[options.common_parent()]` and sets `handler=` on each leaf command; adding a
command (serve, check, status) is adding its module to COMMAND_MODULES.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib import metadata

from . import (
    account_commands,
    ask_commands,
    consent_commands,
    erasure_commands,
    import_command,
    options,
    policy_commands,
    purge_commands,
    receipts_command,
    relay_command,
    serve_commands,
    store_commands,
)

COMMAND_MODULES = [store_commands, account_commands, consent_commands, erasure_commands,
                   import_command, policy_commands, serve_commands, ask_commands,
                   receipts_command, purge_commands, relay_command]


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every registered command."""
    parser = argparse.ArgumentParser(
        prog="maytrain", description="Consent enforcement for ML data pipelines.")
    parser.add_argument("--version", action="version", version=f"maytrain {_version()}")
    options.add_common_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def _version() -> str:
    try:
        return metadata.version("maytrain")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (0 ok, 2 usage or validation error, 1 other)."""
    args = build_parser().parse_args(argv)
    return options.run(args.handler, args)
