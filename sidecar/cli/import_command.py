"""`maytrain import FILE`: bulk-load accounts, grants, opt-outs and erasures (JSON Lines)."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from typing import Any

from ..core.errors import MaytrainError
from ..snapshot_seal import read_key
from ..store import ConsentStore
from ..store.imports import import_file
from . import options
from .store_commands import add_key_option


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `import` command."""
    command = subparsers.add_parser(
        "import", parents=[options.common_parent()], help="bulk-load a JSON Lines file",
        description="Load accounts, grants, opt-outs and erasures from JSON Lines, all or "
                    "nothing; an error names the line and the field. See sidecar/store/imports.py.")
    command.add_argument("file", metavar="FILE", help="the JSON Lines file ('-' for stdin)")
    command.add_argument("--no-pack", dest="pack", action="store_false",
                         help="do not pack the store afterwards (`maytrain store pack`, which "
                              "lets a sidecar's cold start skip reading every row)")
    add_key_option(command)
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
    key = read_key(options.settings(args).snapshot_key_file) if args.pack else None
    with options.open_for(args) as store:
        result = import_file(store, path, actor=options.actor(args))
        packed = _pack(store, key) if args.pack else None
    first = result.version - result.count + 1
    payload: dict[str, Any] = {"consent_version": result.version, "rows": result.count,
                               "first_version": first}
    text = f"imported {result.count} rows at consent versions {first}-{result.version}"
    if args.pack:
        payload["packed_version"] = packed
        if packed is not None:
            text += f"; packed the store at consent version {packed}"
    return options.emit(args, payload, text)


def _pack(store: ConsentStore, key: bytes | None) -> int | None:
    """Pack after a bulk load, so a cold start reads the base, not the rows just written; a
    failure (a writer role without the pack's privileges) is a warning: the import stands."""
    try:
        return store.pack(key).version
    except MaytrainError as exc:
        print(f"maytrain: warning: the import is committed, but the store was not packed "
              f"({' '.join(str(exc).split())}); sidecars start by reading every row until "
              "`maytrain store pack` runs", file=sys.stderr)
        return None
