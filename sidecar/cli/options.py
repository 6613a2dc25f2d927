"""Options every command shares (--store, --policy, --actor, --json), output and exit codes.

Settings are resolved by `sidecar.settings` (flag, then MAYTRAIN_* variable, then the
default). Exit codes: 0 success, 2 usage or validation error, 1 anything else.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from ..core.errors import InvalidValueError, MaytrainError, PolicyError
from ..core.model import Micros
from ..core.times import format_timestamp, parse_timestamp
from ..policy_files import load_policy
from ..settings import DEFAULT_STORE_URL, Settings, resolve
from ..store import ConsentStore, NotFoundError, ValidationError, open_store
from ..store.requests import check_id

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
_USAGE_ERRORS = (ValidationError, NotFoundError, PolicyError, InvalidValueError)

Handler = Callable[[argparse.Namespace], int]


def common_parent() -> argparse.ArgumentParser:
    """A parent parser with the shared options, for every leaf command's parser."""
    parent = argparse.ArgumentParser(add_help=False)
    add_common_options(parent, default=argparse.SUPPRESS)
    return parent


def add_json_option(parser: argparse.ArgumentParser, meaning: str) -> None:
    """--json after the command's name too, for a command without the common options."""
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=meaning)


def add_common_options(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """Add --store, --policy, --actor and --json (also accepted before the command)."""
    group = parser.add_argument_group("common options")
    group.add_argument("--store", metavar="URL", default=default,
                       help="consent store URL (default $MAYTRAIN_STORE, else "
                            f"{DEFAULT_STORE_URL})")
    group.add_argument("--policy", metavar="FILE", default=default,
                       help="policy file (default $MAYTRAIN_POLICY, else the built-in policy)")
    group.add_argument("--actor", metavar="NAME", default=default,
                       help="who is writing, recorded with every write (default: your OS user)")
    group.add_argument("--json", action="store_true",
                       default=False if default is None else default,
                       help="print machine-readable JSON")


def settings(args: argparse.Namespace) -> Settings:
    """The settings for this command: its flags, then MAYTRAIN_* variables, then defaults."""
    return resolve(vars(args))


def json_logs(args: argparse.Namespace) -> argparse.Namespace:
    """A long-running command's --json asks for JSON logs, unless --log-format says otherwise."""
    if getattr(args, "json", False) and args.log_format is None:
        args.log_format = "json"
    return args


def actor(args: argparse.Namespace) -> str:
    """Who writes: --actor, else the operating-system user."""
    name = args.actor if args.actor is not None else _os_user()
    check_id("--actor", name)
    return name


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def open_for(args: argparse.Namespace, *, create: bool = False) -> ConsentStore:
    """Open the store named by the options, validating writes against the chosen policy."""
    chosen = settings(args)
    return open_store(chosen.store, create=create, policy=load_policy(chosen.policy),
                      password_file=chosen.store_password_file)


def timestamp(value: str | None, option: str) -> Micros | None:
    """Parse an ISO 8601 option value with a zone; ValidationError names the option."""
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except InvalidValueError as exc:
        raise ValidationError(option, str(exc)) from None


def iso(micros: Micros | None) -> str | None:
    """A timestamp for output (None stays None)."""
    return None if micros is None else format_timestamp(micros)


def emit(args: argparse.Namespace, payload: Any, text: str) -> int:
    """Print JSON with --json, else the text; success."""
    print(json.dumps(payload, indent=None, sort_keys=True) if args.json else text)
    return EXIT_OK


def run(handler: Handler, args: argparse.Namespace) -> int:
    """Run a command; expected errors become one stderr line and exit code 2 or 1."""
    try:
        return handler(args)
    except _USAGE_ERRORS as exc:
        return error(str(exc), EXIT_USAGE)
    except MaytrainError as exc:
        return error(str(exc), EXIT_FAILURE)
    except BrokenPipeError:  # `| head` has read enough; 1, never a check's "allowed" 0
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except OSError as exc:
        return error(f"{exc.strerror or exc}", EXIT_FAILURE)
    except KeyboardInterrupt:
        return error("interrupted; nothing was written by the unfinished command", EXIT_FAILURE)


def error(message: str, code: int) -> int:
    """Print `maytrain: error: message` on one stderr line; return the exit code."""
    print(f"maytrain: error: {' '.join(message.split())}", file=sys.stderr)
    return code
