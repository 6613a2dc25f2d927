"""`maytrain check | status`: ask a running sidecar (at --target, else $MAYTRAIN_TARGET,
else 127.0.0.1:50051).

`check` exits 0 when the record is allowed, 1 when it is denied and 2 for every failure
(it catches them all), so a crash can never read as a denial or an allow. Allowed means an
ALLOW verdict *and* an allowing reason, as in the client; an answer with a verdict or
reason this version does not know, or an ALLOW with a denying reason, is a failure (2).
`status` exits 0 when the sidecar is serving, 1 when it answers but is not serving (its
cache is stale or empty), and 2 when it cannot be asked.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2

from ..core.times import parse_timestamp
from . import options

EXIT_ALLOWED, EXIT_DENIED, EXIT_FAILED = 0, 1, 2
EXIT_SERVING, EXIT_NOT_SERVING = 0, 1
ALLOWING_REASONS = frozenset({consent_pb2.REASON_ALLOWED_BY_TERMS,
                              consent_pb2.REASON_ALLOWED_BY_CONSENT})
_INTEGERS = {FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_INT64,
             FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_INT32}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `check` and `status`."""
    check = subparsers.add_parser("check", help="ask a running sidecar about one record",
                                  description="Exit 0 allowed, 1 denied, 2 on any failure.")
    _asking_options(check)
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
    check.add_argument("--timeout", type=float, default=5.0, help="seconds to wait (5)")
    check.set_defaults(handler=check_command)
    status = subparsers.add_parser(
        "status", help="show a running sidecar's status",
        description="Exit 0 serving, 1 answering but not serving (stale or empty cache), "
                    "2 when the sidecar cannot be asked.")
    _asking_options(status)
    status.set_defaults(handler=status_command)


def _asking_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", help="sidecar address (default $MAYTRAIN_TARGET, else "
                                         "127.0.0.1:50051)")
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print machine-readable JSON")


def check_command(args: argparse.Namespace) -> int:
    """Ask for one record's decision; print it; exit by verdict."""
    target = options.settings(args).target
    try:
        request = pb.CheckRequest(record=_record(args), min_consent_version=args.min_version,
                                  explain=args.explain)
        with grpc.insecure_channel(target) as channel:
            response = pb_grpc.ConsentCheckServiceStub(channel).Check(request,
                                                                      timeout=args.timeout)
    except Exception as exc:  # every failure is exit 2, never a verdict
        return options.error(_failure(exc, target), EXIT_FAILED)
    problem = _unreadable(response.decision)
    if problem:
        return options.error(f"sidecar at {target} {problem}; treat the record as denied",
                             EXIT_FAILED)
    _print_decision(args, response)
    return EXIT_ALLOWED if response.decision.verdict == consent_pb2.VERDICT_ALLOW else EXIT_DENIED


def _record(args: argparse.Namespace) -> consent_pb2.Record:
    record = consent_pb2.Record(
        account_id=args.account, user_id=args.user, data_category=args.category,
        purpose=args.purpose, region=args.region, derived_from=args.derived_from)
    if args.collected_at:
        record.collected_at.FromMicroseconds(parse_timestamp(args.collected_at))
    return record


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
    """Print a running sidecar's status; exit 0 serving, 1 not serving, 2 unreachable."""
    target = options.settings(args).target
    try:
        with grpc.insecure_channel(target) as channel:
            status = pb_grpc.ConsentCheckServiceStub(channel).GetStatus(
                pb.GetStatusRequest(), timeout=5)
    except grpc.RpcError as exc:
        return options.error(_failure(exc, target), EXIT_FAILED)
    payload = status_payload(status)
    if getattr(args, "json", False):
        print(json.dumps(payload, sort_keys=True))
    else:
        print("\n".join(f"{key}: {value}" for key, value in payload.items()))
    return EXIT_SERVING if status.serving else EXIT_NOT_SERVING


def status_payload(status: pb.GetStatusResponse) -> dict[str, Any]:
    """The status as JSON values: numbers as numbers, the staleness in seconds."""
    payload: dict[str, Any] = json_format.MessageToDict(
        status, always_print_fields_with_no_presence=True, preserving_proto_field_name=True)
    for field in status.DESCRIPTOR.fields:
        if field.type in _INTEGERS and field.name in payload:
            payload[field.name] = int(payload[field.name])
    if status.HasField("staleness"):
        payload["staleness"] = status.staleness.ToNanoseconds() / 1e9
    return payload


def _print_decision(args: argparse.Namespace, response: pb.CheckResponse) -> None:
    decision = response.decision
    verdict = consent_pb2.Verdict.Name(decision.verdict).removeprefix("VERDICT_")
    reason = consent_pb2.Reason.Name(decision.reason).removeprefix("REASON_")
    if getattr(args, "json", False):
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
