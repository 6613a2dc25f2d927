"""The pure decision core: policy, consent index, decide() and its reference reading of the
table, decide_reference(). No I/O, no gRPC, no clock."""

from .decision import decide, decide_batch
from .errors import InvalidValueError, MaytrainError, PolicyError
from .index import ConsentIndex
from .model import (
    Account,
    Change,
    ConsentEntry,
    Decision,
    Effect,
    Erasure,
    Micros,
    Reason,
    Record,
    Rule,
    Verdict,
)
from .policy import Policy, parse_policy
from .reference import decide_reference

__all__ = [
    "Account", "Change", "ConsentEntry", "ConsentIndex", "Decision", "Effect", "Erasure",
    "InvalidValueError", "MaytrainError", "Micros", "Policy", "PolicyError", "Reason",
    "Record", "Rule", "Verdict", "decide", "decide_batch", "decide_reference", "parse_policy",
]
