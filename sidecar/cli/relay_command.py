"""`maytrain relay`: follow the store and publish its changes, snapshots and heartbeats to
NATS JetStream for sidecars that run `serve --follow` (see docs/fleet.md)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from ..observability import logs
from ..policy_files import load_policy
from ..settings import Settings
from ..snapshot_seal import read_key
from ..store import open_store
from ..store.masking import mask_url
from . import options

log = logging.getLogger("maytrain.relay")
HEALTH_PERIOD = 0.5
HEALTH_WORKERS = 4  # a Watch holds a thread: room for a few probes at once


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `relay`."""
    relay = subparsers.add_parser("relay", help="publish the store's changes to NATS", description=(
        "Follow the consent store and publish every change, once, to a JetStream stream, with "
        "the latest snapshot in an object store and a heartbeat after every round. Run two "
        "for availability: each change is still published once. Each flag falls back to its "
        "MAYTRAIN_* variable."))
    relay.add_argument("--store", metavar="URL", help="consent store URL ($MAYTRAIN_STORE)")
    relay.add_argument("--policy", metavar="FILE", help="policy file ($MAYTRAIN_POLICY)")
    relay.add_argument("--nats", metavar="URL", help="NATS server, nats://host:4222 ($MAYTRAIN_NATS)")
    relay.add_argument("--stream", metavar="NAME", help="the stream (maytrain-changes)")
    relay.add_argument("--retention", metavar="DURATION",
                       help="how long the stream keeps a change: seconds, or 30m, 12h, 7d (7d)")
    relay.add_argument("--heartbeat", metavar="S", help="seconds between heartbeats (1)")
    relay.add_argument("--snapshot-changes", metavar="N",
                       help="put a snapshot after this many changes (10000)")
    relay.add_argument("--snapshot-seconds", metavar="DURATION",
                       help="... or this long after the first change since the last (300)")
    relay.add_argument("--snapshot-key-file", metavar="PATH",
                       help="seal snapshots with this key (HMAC-SHA256); followers need it too")
    relay.add_argument("--sync-interval", metavar="S", help="poll a store that does not push (1)")
    relay.add_argument("--round-gap", metavar="S", help=(
        "at least this long between two rounds (0.02): a busy store's changes are read and "
        "published in pages, at a cost that does not grow with its write rate; 0 for none"))
    relay.add_argument("--health-listen", metavar="ADDR",
                       help="serve grpc.health.v1 here: SERVING while rounds reach NATS")
    relay.add_argument("--log-format", choices=("text", "json"), help="text (default) or json")
    options.add_json_option(relay, "JSON logs (as --log-format json)")
    relay.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    relay.set_defaults(handler=relay_command)


def relay_command(args: argparse.Namespace) -> int:
    """Relay until SIGTERM or SIGINT."""
    from ..fanout.relay import Relay, RelayOptions
    from ..fanout.wire import Names
    from ..server.listeners import check_address

    settings = options.settings(options.json_logs(args))
    logs.configure(settings.log_format, settings.log_level,
                   secrets=logs.known_secrets(settings.store))
    if not settings.nats:
        return options.error("maytrain relay needs --nats nats://host:4222", options.EXIT_USAGE)
    if settings.health_listen:
        check_address(settings.health_listen)  # before anything connects: `localhost` is no address
    policy = load_policy(settings.policy)
    relay = Relay(lambda: open_store(settings.store, create=False, policy=policy,
                                     password_file=settings.store_password_file),
                  settings.nats, Names(settings.stream), store=mask_url(settings.store),
                  options=RelayOptions(settings.heartbeat, settings.snapshot_changes,
                                       settings.snapshot_seconds, settings.retention,
                                       settings.sync_interval, settings.round_gap),
                  key=read_key(settings.snapshot_key_file))
    log.info("relaying %s to %s stream %s", mask_url(settings.store), mask_url(settings.nats),
             settings.stream)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    health = _serve_health(settings, relay, stop) if settings.health_listen else None
    relay.run(stop)
    if health is not None:
        health.stop(1)
    return options.EXIT_OK


def _serve_health(settings: Settings, relay, stop: threading.Event):  # noqa: ANN001, ANN202
    """grpc.health.v1 (and reflection) for probes: SERVING while the last round reached NATS
    recently; a watcher hears each change once, as from `serve --health-listen`."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    import grpc
    from grpc_health.v1 import health, health_pb2_grpc

    from ..server.health import NOT_SERVING, SERVING, HealthReporter
    from ..server.listeners import bind
    from ..server.reflection import add_reflection

    server = grpc.server(ThreadPoolExecutor(max_workers=HEALTH_WORKERS))
    reporter = HealthReporter()
    health_pb2_grpc.add_HealthServicer_to_server(reporter, server)
    add_reflection(server, (health.SERVICE_NAME,))
    bind(server, str(settings.health_listen))
    server.start()
    reporter.set("liveness", SERVING)

    def watch() -> None:
        while not stop.wait(HEALTH_PERIOD):
            recent = time.monotonic() - relay.last_round < 3 * settings.heartbeat + 1
            reporter.set("", SERVING if recent and relay.last_round else NOT_SERVING)

    threading.Thread(target=watch, name="maytrain-relay-health", daemon=True).start()
    return server
