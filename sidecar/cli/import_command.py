"""`maytrain import FILE`: bulk-load accounts, grants, opt-outs and erasures (JSON Lines)."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile

from ..store.imports import import_file
from . import options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `import` command."""
    command = subparsers.add_parser(
        "import", parents=[options.common_parent()], help="bulk-load a JSON Lines file",
        description="Load accounts, grants, opt-outs and erasures from JSON Lines, all or "
                    "nothing; an error names the line and the field. See sidecar/store/imports.py.")
    command.add_argument("file", metavar="FILE", help="the JSON Lines file ('-' for stdin)")
    command.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    """Parse, validate and write the file in one transaction, a slice at a time."""
    if args.file == "-":
        # The import reads its file twice (count, then write): stdin is spooled to disk.
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".jsonl") as spool:
            shutil.copyfileobj(sys.stdin, spool)
            spool.flush()
            return _imported(args, spool.name)
    return _imported(args, args.file)


def _imported(args: argparse.Namespace, path: str) -> int:
    with options.open_for(args) as store:
        result = import_file(store, path, actor=options.actor(args))
    first = result.version - result.count + 1
    return options.emit(
        args, {"consent_version": result.version, "rows": result.count, "first_version": first},
        f"imported {result.count} rows at consent versions {first}-{result.version}")
