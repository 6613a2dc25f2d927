"""`maytrain serve | check | status`: run the sidecar, and ask a running one.

`check` exits 0 when the record is allowed, 1 when it is denied and 2 for every failure
(it catches them all), so a crash can never read as a denial or an allow. Allowed means an
ALLOW verdict *and* an allowing reason, as in the client; an answer with a verdict or
reason this version does not know, or an ALLOW with a denying reason, is a failure (2).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading

import grpc
from google.protobuf import json_format

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2

from .. import logs
from ..core.times import parse_timestamp
from ..policy_files import load_policy
from ..settings import DEFAULT_TARGET
from . import options

EXIT_ALLOWED, EXIT_DENIED, EXIT_FAILED = 0, 1, 2
ALLOWING_REASONS = frozenset({consent_pb2.REASON_ALLOWED_BY_TERMS,
                              consent_pb2.REASON_ALLOWED_BY_CONSENT})


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `serve`, `check` and `status`."""
    serve = subparsers.add_parser("serve", help="run the sidecar", description=(
        "Run the sidecar: follow the store, answer maytrain.v1.ConsentCheckService. Each "
        "flag falls back to its MAYTRAIN_* variable (MAYTRAIN_LISTEN is comma-separated)."))
    serve.add_argument("--store", metavar="URL", help="consent store URL ($MAYTRAIN_STORE)")
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
    _check_parser(subparsers)
    status = subparsers.add_parser("status", help="show a running sidecar's status")
    status.add_argument("--target", default=DEFAULT_TARGET, help="sidecar address")
    status.add_argument("--json", action="store_true", help="print machine-readable JSON")
    status.set_defaults(handler=status_command)


def _observability_options(serve: argparse.ArgumentParser) -> None:
    """--metrics-listen, --log-format/--log-level, --receipts and its limits."""
    serve.add_argument("--metrics-listen", metavar="ADDR",
                       help="serve Prometheus metrics on host:port (off by default)")
    serve.add_argument("--log-format", choices=("text", "json"),
                       help="text (default) or json: one object a line")
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


def _check_parser(subparsers: argparse._SubParsersAction) -> None:
    check = subparsers.add_parser("check", help="ask a running sidecar about one record",
                                  description="Exit 0 allowed, 1 denied, 2 on any failure.")
    check.add_argument("--target", default=DEFAULT_TARGET, help="sidecar address")
    check.add_argument("--account", required=True)
    check.add_argument("--user", default="")
    check.add_argument("--category", required=True)
    check.add_argument("--purpose", required=True)
    check.add_argument("--collected-at", help="when the data was produced (ISO 8601, zone)")
    check.add_argument("--region", default="")
    check.add_argument("--derived-from", action="append", default=[], metavar="CATEGORY")
    check.add_argument("--min-version", type=int, default=0,
                       help="answer only at this consent version or later")
    check.add_argument("--explain", action="store_true", help="say which rule and entries decided")
    check.add_argument("--json", action="store_true", help="print machine-readable JSON")
    check.add_argument("--timeout", type=float, default=5.0, help="seconds to wait (5)")
    check.set_defaults(handler=check_command)


def serve_command(args: argparse.Namespace) -> int:
    """Run until SIGTERM or SIGINT, then shut down gracefully and exit 0."""
    from ..runtime import Sidecar  # grpc server parts load only for `serve`

    settings = options.settings(args)
    logs.configure(settings.log_format, settings.log_level,
                   secrets=logs.known_secrets(settings.store))
    policy = load_policy(settings.policy)
    sidecar = Sidecar(settings, policy)
    logging.getLogger("maytrain").info("settings: %s", sidecar.settings.described())
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sidecar.start()
    stop.wait()
    sidecar.stop()
    return options.EXIT_OK


def check_command(args: argparse.Namespace) -> int:
    """Ask for one record's decision; print it; exit by verdict."""
    try:
        record = consent_pb2.Record(
            account_id=args.account, user_id=args.user, data_category=args.category,
            purpose=args.purpose, region=args.region, derived_from=args.derived_from)
        if args.collected_at:
            micros = parse_timestamp(args.collected_at)
            record.collected_at.FromMicroseconds(micros)
        request = pb.CheckRequest(record=record, min_consent_version=args.min_version,
                                  explain=args.explain)
        with grpc.insecure_channel(args.target) as channel:
            response = pb_grpc.ConsentCheckServiceStub(channel).Check(request, timeout=args.timeout)
    except Exception as exc:  # every failure is exit 2, never a verdict
        return options.error(_failure(exc, args.target), EXIT_FAILED)
    problem = _unreadable(response.decision)
    if problem:
        return options.error(f"sidecar at {args.target} {problem}; treat the record as "
                             "denied", EXIT_FAILED)
    _print_decision(args, response)
    return EXIT_ALLOWED if response.decision.verdict == consent_pb2.VERDICT_ALLOW else EXIT_DENIED


def _unreadable(decision: consent_pb2.Decision) -> str:
    """Why an answer cannot be taken at its word, or '' (it names a known, coherent pair)."""
    if decision.verdict not in consent_pb2.Verdict.values():
        return f"answered an unknown verdict number {decision.verdict}"
    if decision.reason not in consent_pb2.Reason.values():
        return f"answered an unknown reason number {decision.reason}"
    allows = decision.verdict == consent_pb2.VERDICT_ALLOW
    if decision.verdict == consent_pb2.VERDICT_UNSPECIFIED or (
            allows != (decision.reason in ALLOWING_REASONS)):
        verdict = consent_pb2.Verdict.Name(decision.verdict)
        return (f"answered a contradictory decision ({verdict} with "
                f"{consent_pb2.Reason.Name(decision.reason)})")
    return ""


def status_command(args: argparse.Namespace) -> int:
    """Print a running sidecar's status."""
    try:
        with grpc.insecure_channel(args.target) as channel:
            status = pb_grpc.ConsentCheckServiceStub(channel).GetStatus(
                pb.GetStatusRequest(), timeout=5)
    except grpc.RpcError as exc:
        return options.error(_failure(exc, args.target), options.EXIT_FAILURE)
    payload = json_format.MessageToDict(status, always_print_fields_with_no_presence=True)
    if args.json:
        print(json.dumps(payload, sort_keys=True))
    else:
        print("\n".join(f"{key}: {value}" for key, value in payload.items()))
    return options.EXIT_OK if status.serving else options.EXIT_FAILURE


def _print_decision(args: argparse.Namespace, response: pb.CheckResponse) -> None:
    decision = response.decision
    verdict = consent_pb2.Verdict.Name(decision.verdict).removeprefix("VERDICT_")
    reason = consent_pb2.Reason.Name(decision.reason).removeprefix("REASON_")
    if args.json:
        print(json.dumps({"verdict": verdict, "reason": reason,
                          "explanation": decision.explanation,
                          "consent_version": response.consent_version,
                          "policy_version": response.policy_version}, sort_keys=True))
        return
    print(f"{verdict} {reason} (consent version {response.consent_version}, "
          f"policy {response.policy_version})")
    if decision.explanation:
        print(decision.explanation)


def _failure(exc: Exception, target: str) -> str:
    if isinstance(exc, grpc.RpcError):
        return f"sidecar at {target} did not answer: {exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"
