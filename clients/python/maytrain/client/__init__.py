"""maytrain.client: ask a maytrain sidecar whether records may be used, and keep only those.

    with ConsentClient("127.0.0.1:50051", default_purpose="ai.training") as client:
        for record in client.filter(records, manifest="train.manifest.jsonl"):
            ...

The target is the argument, else $MAYTRAIN_TARGET, else 127.0.0.1:50051 (where `make run`
serves). The client fails closed: a record the sidecar did not answer is denied with
DENIED_UNAVAILABLE (or SidecarUnavailable is raised, with on_unavailable="raise").
Integrations load their optional dependency only when used: maytrain.client.jsonl,
maytrain.client.arrow (extra [arrow]), maytrain.client.spark ([spark]),
maytrain.client.ray (Ray Data, [ray]) and maytrain.client.hf (Hugging Face datasets, [hf]).
"""

from ._async import AsyncConsentClient
from ._changes import ChangeKind, ChangeWatch, ConsentChange
from ._config import DEFAULT_TARGET, SERVICE, TARGET_ENV, ClientConfig, RetryPolicy
from ._decisions import Decision, Reason, Verdict
from ._errors import (
    HistoryUnavailable,
    InvalidRecordError,
    MaytrainError,
    RequestRejected,
    SidecarUnavailable,
)
from ._lineage import FilterSummary, LineageWriter, read_manifest
from ._records import Record, RecordLike
from ._sync import ConsentClient

__all__ = [
    "AsyncConsentClient",
    "ChangeKind",
    "ChangeWatch",
    "ClientConfig",
    "ConsentChange",
    "ConsentClient",
    "DEFAULT_TARGET",
    "Decision",
    "FilterSummary",
    "HistoryUnavailable",
    "InvalidRecordError",
    "LineageWriter",
    "MaytrainError",
    "Reason",
    "Record",
    "RecordLike",
    "RequestRejected",
    "RetryPolicy",
    "SERVICE",
    "SidecarUnavailable",
    "TARGET_ENV",
    "Verdict",
    "read_manifest",
]
