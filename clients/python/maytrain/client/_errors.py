"""The exceptions this client raises, and which gRPC failures mean "no answer".

    MaytrainError                 every error raised by maytrain.client
    ├── SidecarUnavailable        the sidecar gave no answer (unreachable, deadline passed,
    │                             stream broken past its retries); raised only when the
    │                             client was made with on_unavailable="raise", otherwise
    │                             the records are denied with DENIED_UNAVAILABLE
    ├── HistoryUnavailable        watch_changes: the sidecar holds no history at the version
    │                             asked for (plan again from a full pass over the manifests)
    ├── RequestRejected           the sidecar refused a call as a whole (a batch over its
    │                             limit, a method it does not serve): a setup problem that
    │                             retrying will not fix, so it is always raised
    └── InvalidRecordError        a value this client cannot turn into a record (also a
                                  TypeError); bad data inside a record is a DENY instead
"""

from __future__ import annotations

import grpc

# Codes after which the sidecar may answer again later: the client fails closed on them.
NO_ANSWER_CODES = frozenset({
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.DATA_LOSS,
})


class MaytrainError(Exception):
    """Base class of every error raised by maytrain.client."""


class SidecarUnavailable(MaytrainError):
    """The sidecar gave no answer; raised only with on_unavailable="raise"."""


class HistoryUnavailable(MaytrainError):
    """The sidecar holds no history at the version asked for: plan again from a full pass."""


class RequestRejected(MaytrainError):
    """The sidecar refused the call as a whole; the message says why."""


class InvalidRecordError(MaytrainError, TypeError):
    """A value that cannot be sent as a record (wrong type, or a field of the wrong type)."""


def describe(error: grpc.RpcError) -> str:
    """`CODE: details` of a failed call, for messages and explanations."""
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else str(error)
    return f"{code.name if code else 'UNKNOWN'}: {details}"


def is_no_answer(error: grpc.RpcError) -> bool:
    """True when the failure means "no answer now" rather than "this call is wrong"."""
    code = error.code() if hasattr(error, "code") else None
    return code is None or code in NO_ANSWER_CODES


def rejected(error: grpc.RpcError, target: str) -> RequestRejected:
    """The exception for a call the sidecar at `target` refused."""
    return RequestRejected(f"the sidecar at {target} refused the call: {describe(error)}")
