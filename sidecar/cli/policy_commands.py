"""`maytrain policy show`: what the policy in force declares, as a user can read it.

Categories with their basis (and whether they need the user's consent, and what they are
derived from), purposes, regions (groups, aliases, rules), the terms' date and the
policy version every answer carries.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..core.policy import Policy
from ..core.times import format_timestamp
from ..policy_files import load_policy
from . import options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `policy` command group."""
    policy = subparsers.add_parser("policy", help="show the policy in force")
    commands = policy.add_subparsers(dest="policy_command", metavar="COMMAND", required=True)
    show = commands.add_parser("show", parents=[options.common_parent()],
                               help="list categories, purposes, regions and the version",
                               description="Show what the policy (--policy, $MAYTRAIN_POLICY "
                                           "or the built-in one) declares.")
    show.set_defaults(handler=show_policy)


def show_policy(args: argparse.Namespace) -> int:
    """Print the policy's declarations."""
    policy = load_policy(options.settings(args).policy)
    payload = describe(policy)
    return options.emit(args, payload, "\n".join(_text(payload)))


def describe(policy: Policy) -> dict[str, Any]:
    """The policy's declarations as JSON values."""
    categories = {
        leaf: {"basis": policy.rule_for(leaf, "").basis,
               "user_consent": policy.rule_for(leaf, "").needs_user,
               "derived_from": list(policy.sources(leaf))}
        for leaf in sorted(policy.categories.leaves)}
    rules = [{"region": rule.region, "consent": list(rule.consent),
              "prohibit": list(rule.prohibit)} for rule in policy.region_rules]
    terms = policy.terms_effective
    return {
        "name": policy.name, "version": policy.version, "source": policy.source,
        "terms_effective": None if terms is None else format_timestamp(terms),
        "max_staleness_seconds": policy.max_staleness_seconds,
        "categories": categories, "purposes": sorted(policy.purposes.nodes),
        "regions": {"groups": {name: sorted(members) for name, members
                               in sorted(policy.regions.groups.items())},
                    "aliases": dict(sorted(policy.regions.aliases.items())), "rules": rules},
    }


def _text(payload: dict[str, Any]) -> list[str]:
    lines = [f"policy {payload['name']} {payload['version']} ({payload['source']})",
             f"terms effective {payload['terms_effective'] or 'not set'}, "
             f"max_staleness {payload['max_staleness_seconds']:g}s", "", "categories:"]
    for key, category in payload["categories"].items():
        notes = ["needs user consent"] if category["user_consent"] else []
        if category["derived_from"]:
            notes.append("derived from " + ", ".join(category["derived_from"]))
        lines.append(f"  {key:40} {category['basis']:10} {'; '.join(notes)}".rstrip())
    lines += ["", "purposes: " + ", ".join(payload["purposes"]), "", "regions:"]
    regions = payload["regions"]
    for name, members in regions["groups"].items():
        lines.append(f"  group {name}: {len(members)} codes ({', '.join(members)})")
    for alias, code in regions["aliases"].items():
        lines.append(f"  alias {alias} -> {code}")
    for rule in regions["rules"]:
        parts = [f"{k} {', '.join(rule[k])}" for k in ("consent", "prohibit") if rule[k]]
        lines.append(f"  rule for {rule['region']}: " + "; ".join(parts))
    return lines
