"""The pure decision core: policy, consent index and decide(). No I/O, no gRPC, no clock."""

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
                    Verdict,
)
from .policy import Policy, parse_policy

__all__ = [
    "Account", "Change", "ConsentEntry", "ConsentIndex", "Decision", "Effect", "Erasure",
    "InvalidValueError", "MaytrainError", "Micros", "Policy", "PolicyError", "Reason",
    "Record", "Verdict", "decide", "decide_batch", "parse_policy",
]
