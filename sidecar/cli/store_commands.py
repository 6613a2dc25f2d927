"""`maytrain store init [--sample]`: create or migrate the consent store, load the sample;
`maytrain store pack`: keep the packed base a sidecar's cold start reads instead of rows."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..samples import load_sample
from ..snapshot_seal import read_key
from . import options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `store` command group."""
    store = subparsers.add_parser("store", help="create or migrate the consent store")
    commands = store.add_subparsers(dest="store_command", metavar="COMMAND", required=True)
    init = commands.add_parser(
        "init", parents=[options.common_parent()], help="create or migrate the store",
        description="Create the consent store, or migrate it to this version's schema. "
                    "Harmless to re-run; the only command that creates a store.")
    init.add_argument("--sample", action="store_true",
                      help="also load the documented sample accounts and consents "
                           "(skipped when they are already loaded)")
    init.set_defaults(handler=init_store)
    pack = commands.add_parser(
        "pack", parents=[options.common_parent()],
        help="keep the packed base a sidecar's cold start reads",
        description="Pack every account at the store's current consent version as the "
                    "compact index, and keep it in the store (replacing the one before). A "
                    "sidecar with no snapshot file then starts from it and the changes "
                    "after it instead of reading every row. Run it after a bulk import and "
                    "then now and then (a CronJob): a start follows every change since the "
                    "pack. Safe beside writers and sidecars.")
    add_key_option(pack)
    pack.set_defaults(handler=pack_store)


def add_key_option(command: argparse.ArgumentParser) -> None:
    """--snapshot-key-file for a command that packs (MAYTRAIN_SNAPSHOT_KEY_FILE)."""
    command.add_argument("--snapshot-key-file", metavar="PATH",
                         help="seal the packed base with the sidecars' snapshot key: a sidecar "
                              "with a key uses only a base sealed with it")


def init_store(args: argparse.Namespace) -> int:
    """Create or migrate; optionally load the sample once."""
    with options.open_for(args, create=True) as store:
        migration = store.migration
        payload: dict[str, Any] = {
            "store": store.url, "schema_version": migration.schema_after,
            "created": migration.schema_before == 0, "migrated": migration.changed,
        }
        lines = [_migration_text(store.url, migration)]
        if args.sample:
            loaded = load_sample(store, actor=options.actor(args))
            payload["sample"] = "loaded" if loaded else "already loaded"
            payload["sample_rows"] = loaded.count if loaded else 0
            lines.append(f"loaded the sample ({loaded.count} rows)" if loaded
                         else "the sample is already loaded; nothing added (changes made "
                              "since are kept: remove the store to start afresh)")
        payload["consent_version"] = store.version()
        lines.append(f"consent version {payload['consent_version']}")
        return options.emit(args, payload, "\n".join(lines))


def _migration_text(url: str, migration: Any) -> str:
    if migration.schema_before == 0:
        return f"created the consent store {url} (schema version {migration.schema_after})"
    if migration.changed:
        return (f"migrated the consent store {url} from schema version "
                f"{migration.schema_before} to {migration.schema_after}")
    return f"the consent store {url} is up to date (schema version {migration.schema_after})"


def pack_store(args: argparse.Namespace) -> int:
    """Pack the store's current version as its packed base and say what it holds."""
    key = read_key(options.settings(args).snapshot_key_file)
    with options.open_for(args) as store:
        started = time.monotonic()
        info = store.pack(key)
        seconds = time.monotonic() - started
        behind = store.version() - info.version
    payload = {"store": store.url, "consent_version": info.version, "parts": info.parts,
               "body_bytes": info.body_bytes, "body_sha256": info.body_sha256,
               "sealed": bool(info.seal), "seconds": round(seconds, 3)}
    text = (f"packed consent version {info.version} of {store.url}: {_size(info.body_bytes)} "
            f"in {info.parts} part{'s' if info.parts != 1 else ''} ({seconds:.1f} s"
            f"{', sealed with the snapshot key' if info.seal else ''}); a sidecar with no "
            f"snapshot file starts from it{'' if info.seal else ' unless it has a snapshot key'}")
    if behind:
        text += f" and the {behind} changes written since"
    return options.emit(args, payload, text)


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} bytes"
    return f"{count / 1000:.1f} KB" if count < 1_000_000 else f"{count / 1_000_000:.1f} MB"
