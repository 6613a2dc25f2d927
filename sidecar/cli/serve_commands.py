"""`maytrain serve`: run the sidecar until SIGTERM or SIGINT (`ask_commands` asks one)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from dataclasses import replace

from ..core.policy import Policy
from ..observability import logs
from ..policy_files import load_policy
from ..settings import Settings
from ..store.urls import opener_for
from . import options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `serve`."""
    serve = subparsers.add_parser("serve", help="run the sidecar", description=(
        "Run the sidecar: follow the store, answer maytrain.v1.ConsentCheckService. Each "
        "flag falls back to its MAYTRAIN_* variable (MAYTRAIN_LISTEN is comma-separated)."))
    serve.add_argument("--store", metavar="URL", help="consent store URL ($MAYTRAIN_STORE)")
    serve.add_argument("--follow", metavar="NATS_URL",
                       help="follow a relay's stream on NATS (nats://host:4222) instead of "
                            "the store; with --store too, the store is read for a snapshot "
                            "only when NATS has none")
    serve.add_argument("--stream", metavar="NAME", help="the relay's stream (maytrain-changes)")
    serve.add_argument("--policy", metavar="FILE", help="policy file ($MAYTRAIN_POLICY)")
    serve.add_argument("--listen", metavar="ADDR", action="append", default=[],
                       help="host:port or unix:/path; repeatable (default 127.0.0.1:50051)")
    serve.add_argument("--health-listen", metavar="ADDR",
                       help="an extra listener serving only grpc.health.v1, for probes")
    serve.add_argument("--max-staleness", metavar="S", type=float,
                       help="deny as stale past this many seconds (default: the policy's)")
    serve.add_argument("--sync-interval", metavar="S", type=float, help="poll every S seconds (1)")
    serve.add_argument("--snapshot-file", metavar="PATH", help="warm-start snapshot file")
    serve.add_argument("--snapshot-key-file", metavar="PATH",
                       help="authenticate the snapshot file with the key in this file "
                            "(HMAC-SHA256): a file written without it is never loaded")
    serve.add_argument("--max-batch", metavar="N", type=int,
                       help="records per call (10000); messages may be up to 2 KiB a record")
    serve.add_argument("--max-streams", metavar="N", type=int,
                       help="streams served at once, RESOURCE_EXHAUSTED beyond (32 of the 64 "
                            "server threads; the rest stay free for unary calls)")
    serve.add_argument("--shutdown-grace", metavar="S", type=float,
                       help="seconds to finish received requests on SIGTERM (10)")
    serve.add_argument("--reuse-port", action="store_true", default=None,
                       help="share TCP ports with other processes (SO_REUSEPORT); off by "
                            "default, so a second sidecar on a taken address fails")
    serve.add_argument("--workers", metavar="N", type=int,
                       help="serving processes on the same TCP listeners (default: the cores "
                            "the cgroup's CPU quota allows; 1 with a unix socket listener)")
    serve.add_argument("--tls-cert", metavar="PEM",
                       help="serve TLS on TCP listeners with this certificate (chain); "
                            "re-read when the file changes")
    serve.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    serve.add_argument("--tls-client-ca", metavar="PEM",
                       help="require client certificates signed by this CA (mutual TLS)")
    serve.add_argument("--insecure-listen", action="store_true", default=None,
                       help="allow plaintext on TCP listeners beyond loopback (refused "
                            "otherwise)")
    _observability_options(serve)
    serve.set_defaults(handler=serve_command)


def _observability_options(serve: argparse.ArgumentParser) -> None:
    """--metrics-listen, --log-format/--log-level, --receipts and its limits."""
    serve.add_argument("--metrics-listen", metavar="ADDR",
                       help="serve Prometheus metrics on host:port (off by default)")
    serve.add_argument("--log-format", choices=("text", "json"),
                       help="text (default) or json: one object a line")
    options.add_json_option(serve, "JSON logs (as --log-format json)")
    serve.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                       help="info by default; account and user ids appear only at debug")
    serve.add_argument("--receipts", metavar="DIR",
                       help="append every decision to a JSON Lines spool in DIR (off by default)")
    serve.add_argument("--receipts-sample", metavar="SHARE",
                       help="share of decisions to keep, in (0, 1] (1.0); drawn by record id")
    serve.add_argument("--receipts-queue", metavar="N",
                       help="receipts held in memory for the writer (100000); beyond, they "
                            "are dropped and counted")
    serve.add_argument("--receipts-file-bytes", metavar="SIZE",
                       help="rotate a spool file at this size (64Mi)")
    serve.add_argument("--receipts-file-seconds", metavar="S",
                       help="rotate a spool file at this age (3600)")
    serve.add_argument("--receipts-max-bytes", metavar="SIZE",
                       help="cap on the spool: the oldest files are deleted, and counted (1Gi)")


def serve_command(args: argparse.Namespace) -> int:
    """Run until SIGTERM or SIGINT, then shut down gracefully and exit 0."""
    from ..workers import Supervisor, worker_count

    settings = options.settings(options.json_logs(args))
    if settings.follow and args.store is None and not os.environ.get("MAYTRAIN_STORE"):
        settings = replace(settings, store="")  # a follower without a store of its own
    logs.configure(settings.log_format, settings.log_level,
                   secrets=logs.known_secrets(settings.store))
    policy = load_policy(settings.policy)
    count = worker_count(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if count > 1:
        if settings.store:
            opener_for(settings.store)  # refused once here, not once by every worker
        described = replace(settings.under(policy), workers=count).described()
        logging.getLogger("maytrain").info("settings: %s", described)
        return Supervisor(settings, count).run(stop)
    return _serve_alone(settings, policy, stop)


def _serve_alone(settings: Settings, policy: Policy, stop: threading.Event) -> int:
    """One process serving (no supervisor): until `stop`, then drain."""
    from ..runtime import Sidecar  # grpc server parts load only for `serve`

    sidecar = Sidecar(replace(settings, workers=1), policy)
    logging.getLogger("maytrain").info("settings: %s", sidecar.settings.described())
    sidecar.start()
    stop.wait()
    sidecar.stop()
    return options.EXIT_OK


