"""Rule 1 of the decision table: what makes a record malformed, said so a person can fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from .model import Record
from .policy import Policy

MAX_ID_LENGTH = 256


def identity_problem(record: Record) -> str:
    """What is wrong with the record's ids or transport-converted fields, or ''."""
    return (record.problem
            or _named("account_id", id_problem(record.account_id, required=True))
            or _named("user_id", id_problem(record.user_id, required=False)))


def shape_problem(category: str, purpose: str, derived_from: tuple[str, ...], region: str,
                  policy: Policy) -> str:
    """What is wrong with the record's keys and region under the policy, or ''."""
    return (_category_problem(category, policy)
            or _purpose_problem(purpose, policy)
            or _derived_problem(derived_from, policy)
            or _region_problem(region, policy))


def id_problem(value: object, *, required: bool) -> str:
    """Why `value` is not a usable id ('' when it is): printable, no surrounding spaces,
    at most 256 characters. The store checks ids on write with the same rule."""
    if not isinstance(value, str):
        return "must be a string"
    if not value:
        return "is missing" if required else ""
    if len(value) > MAX_ID_LENGTH:
        return f"is longer than {MAX_ID_LENGTH} characters"
    if not value.isprintable() or value != value.strip():
        return f"{value!r} has control characters or surrounding spaces"
    return ""


def _named(name: str, problem: str) -> str:
    return f"{name} {problem}" if problem else ""


def _category_problem(category: str, policy: Policy) -> str:
    if not category:
        return "data_category is missing"
    if category not in policy.categories:
        return f"data_category {category!r} is not declared in the policy"
    if not policy.categories.is_leaf(category):
        return (f"data_category {category!r} is not a leaf of the taxonomy: name the exact "
                "kind of data (e.g. customer_content.chat)")
    return ""


def _purpose_problem(purpose: str, policy: Policy) -> str:
    if not purpose:
        return "purpose is missing"
    if purpose not in policy.purposes:
        return f"purpose {purpose!r} is not declared in the policy"
    return ""


def _derived_problem(sources: tuple[str, ...], policy: Policy) -> str:
    for source in sources:
        if source not in policy.categories:
            return f"derived_from {source!r} is not a declared category"
    return ""


def _region_problem(region: str, policy: Policy) -> str:
    return _named("region", region_problem(region, policy))


def region_problem(region: str, policy: Policy) -> str:
    """Why `region` is not a region the policy knows ('' when it is, or when it is empty).
    The store checks account regions on write with the same rule."""
    if region and policy.normalize_region(region) is None:
        return (f"{region!r} is not an ISO 3166 country (DE), subdivision (US-CA), or a group "
                "or alias the policy declares")
    return ""


def did_you_mean(record: Record, policy: Policy) -> str:
    """A hint naming the declared key closest to an undeclared category or purpose, or ''.

    Costly next to a decision (hundreds of microseconds), so only explanations and
    human-facing errors ask for it, never the hot path."""
    for key, nodes in ((record.data_category, policy.categories.nodes),
                       (record.purpose, policy.purposes.nodes)):
        if key and key not in nodes:
            return closest_hint(key, nodes)
    return ""


def closest_hint(key: str, declared: Iterable[str]) -> str:
    """' (did you mean X?)' for the declared key most like `key`, or '' when none is close."""
    if len(key) > 128:
        return ""
    found = difflib.get_close_matches(key, sorted(declared), n=1, cutoff=0.75)
    return f" (did you mean {found[0]!r}?)" if found else ""
