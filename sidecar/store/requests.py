"""Write requests and their validation against the policy, shared by every store backend.

A request holds what a writer asked for; `check_request` refuses a malformed one with a
`ValidationError` naming the field and what to fix, before any backend touches its data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from ..core.model import Effect, Micros
from ..core.policy import Policy
from ..core.times import to_micros
from ..core.validation import closest_hint, id_problem, region_problem
from .errors import ValidationError

MAX_EVIDENCE_LENGTH = 4096
_MIN_TIME = to_micros(datetime.min.replace(tzinfo=UTC))
_MAX_TIME = to_micros(datetime.max.replace(tzinfo=UTC))


@dataclass(frozen=True, slots=True)
class AccountRequest:
    """Add an account, with its home region ('' for none)."""

    account_id: str
    region: str = ""


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """Record a grant or an opt-out; `entry_id` '' lets the store choose the id."""

    account_id: str
    category: str
    purpose: str
    effect: Effect
    user_id: str = ""
    valid_from: Micros | None = None
    valid_until: Micros | None = None
    covers_data_from: Micros | None = None
    evidence: str = ""
    entry_id: str = ""


@dataclass(frozen=True, slots=True)
class ErasureRequest:
    """Record an erasure of an account (user_id '') or of one user's data."""

    account_id: str
    user_id: str = ""
    erasure_id: str = ""


WriteRequest = AccountRequest | ConsentRequest | ErasureRequest


def check_id(field: str, value: object, *, required: bool = True) -> None:
    """Raise ValidationError when `value` is not a usable id."""
    problem = id_problem(value, required=required)
    if problem:
        raise ValidationError(field, problem)


def normalize_region(region: str, policy: Policy, field: str = "region") -> str:
    """The canonical region code ('' stays ''), or ValidationError for a malformed one: the
    rule records are decided by (assigned ISO 3166 codes, the policy's groups and aliases)."""
    if not region:
        return ""
    code = policy.normalize_region(region) if isinstance(region, str) else None
    if code is None:
        raise ValidationError(field, region_problem(str(region), policy))
    return code


def check_request(request: WriteRequest, policy: Policy, now: Micros) -> WriteRequest:
    """The request with its region normalized; ValidationError when anything is malformed."""
    if isinstance(request, AccountRequest):
        check_id("account", request.account_id)
        return replace(request, region=normalize_region(request.region, policy))
    if isinstance(request, ErasureRequest):
        _check_owner(request.account_id, request.user_id)
        check_id("id", request.erasure_id, required=False)
        return request
    _check_consent(request, policy, now)
    return request


def _check_owner(account_id: str, user_id: str) -> None:
    check_id("account", account_id)
    check_id("user", user_id, required=False)


def _check_consent(request: ConsentRequest, policy: Policy, now: Micros) -> None:
    _check_owner(request.account_id, request.user_id)
    check_id("id", request.entry_id, required=False)
    if not isinstance(request.effect, Effect):
        raise ValidationError("effect", "must be GRANT or OPT_OUT")
    if not policy.is_category(request.category):
        raise ValidationError("category", f"{request.category!r} is not a category the policy "
                                          "declares (any node of the tree, e.g. customer_content)"
                              + closest_hint(request.category, policy.categories.nodes))
    if not policy.is_purpose(request.purpose):
        raise ValidationError("purpose", f"{request.purpose!r} is not a purpose the policy "
                                         "declares (any node of the tree, e.g. ai.training)"
                              + closest_hint(request.purpose, policy.purposes.nodes))
    _check_window(request, now)
    _check_evidence(request.evidence)


def check_time(field: str, value: object) -> None:
    """Raise ValidationError unless `value` is None or integer microseconds in years 1-9999."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not _MIN_TIME <= value <= _MAX_TIME:
        raise ValidationError(field, "must be a time in microseconds since the epoch "
                                     "(years 1 to 9999)")


def _check_window(request: ConsentRequest, now: Micros) -> None:
    for field in ("valid_from", "valid_until", "covers_data_from"):
        check_time(field, getattr(request, field))
    if request.covers_data_from is not None and request.effect is not Effect.GRANT:
        raise ValidationError("covers_data_from",
                              "only a grant covers data; drop it from the opt-out")
    # Without valid_from a grant starts now and an opt-out at its version, i.e. about now.
    start = now if request.valid_from is None else request.valid_from
    if request.valid_until is not None and request.valid_until <= start:
        raise ValidationError("valid_until", "must be later than valid_from "
                                             "(or than now, when valid_from is not given)")


def _check_evidence(evidence: object) -> None:
    if not isinstance(evidence, str):
        raise ValidationError("evidence", "must be text")
    if len(evidence) > MAX_EVIDENCE_LENGTH:
        raise ValidationError("evidence", f"is longer than {MAX_EVIDENCE_LENGTH} characters; "
                                          "store a reference to the document instead")
