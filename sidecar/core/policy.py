"""The policy: taxonomies, each category's basis, derived data, regions, parsed from TOML text.

Parsing validates everything a decision later relies on, so a decision never meets an
undeclared key through the policy; a bad policy fails with the source, key and problem.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import PolicyError
from .model import Micros
from .regions import Regions, country_or_subdivision
from .taxonomy import Taxonomy, ancestors, is_well_formed_key, overlaps
from .times import to_micros

TERMS, CONSENT, PROHIBITED = "terms", "consent", "prohibited"
_STRICTNESS = {TERMS: 0, CONSENT: 1, PROHIBITED: 2}
_TOP_KEYS = {"name", "terms_effective", "max_staleness_seconds", "purposes", "categories",
             "regions"}
_CATEGORY_KEYS = {"basis", "user_consent", "derived_from", "description"}
_RULE_KEYS = {"region", "consent", "prohibit"}
DEFAULT_MAX_STALENESS_SECONDS = 30.0
RuleSet = tuple[int, ...]
"""Positions in a policy's `region_rules`: the rules that bind one region."""


@dataclass(frozen=True, slots=True)
class CategoryRule:
    """How the policy treats one category in one region."""

    basis: str
    needs_user: bool


@dataclass(frozen=True, slots=True)
class RegionRule:
    """Restrictions for records whose region overlaps `region`."""

    region: str
    consent: tuple[str, ...]
    prohibit: tuple[str, ...]


class Policy:
    """A parsed, validated policy. What it derives from its own text is made once (each
    category's sources at load, each category's rule per set of binding region rules on
    first use); nothing is kept per string a caller sends, so nothing grows with them."""

    def __init__(self, *, source: str, version: str, name: str, categories: Taxonomy,
                 purposes: Taxonomy, basis: dict[str, str], user_consent: frozenset[str],
                 derived_from: dict[str, tuple[str, ...]], regions: Regions,
                 region_rules: tuple[RegionRule, ...], terms_effective: Micros | None,
                 max_staleness_seconds: float) -> None:
        self.source, self.version, self.name = source, version, name
        self.categories, self.purposes = categories, purposes
        self.regions, self.region_rules = regions, region_rules
        self.terms_effective = terms_effective
        self.max_staleness_seconds = max_staleness_seconds
        self._basis, self._user_consent, self._derived = basis, user_consent, derived_from
        self._territories = tuple(regions.territory(rule.region) for rule in region_rules)
        # Keyed by what the policy and ISO 3166 declare, never by any string a caller sends:
        # the rules binding each region code (a code the policy knows, of finitely many),
        # and one rule per declared category and distinct set of binding rules.
        self._binding: dict[str, RuleSet] = {"": ()}
        self._rules: dict[tuple[str, RuleSet], CategoryRule] = {}
        self._sources = {node: tuple(_closure(node, self.declared_sources))
                         for node in categories.nodes}

    def is_category(self, key: str) -> bool:
        """True for any declared node of the category tree."""
        return key in self.categories

    def is_purpose(self, key: str) -> bool:
        """True for any declared node of the purpose tree."""
        return key in self.purposes

    def normalize_region(self, code: str) -> str | None:
        """The canonical form of a region code, group name or alias, None when malformed.
        (Not memoised: codes come from callers, and a memo would grow with every new one.)"""
        return self.regions.normalize(code)

    def region_of(self, record_region: str, account_region: str) -> str | None:
        """The normalized region whose rules bind a record: its own when set, else its
        account's ('' for none); None when that code is malformed."""
        code = record_region or account_region
        return self.normalize_region(code) if code else ""

    def rule_for(self, category: str, region: str) -> CategoryRule:
        """Basis and user-consent need of a declared category in a normalized region ('');
        ValueError for a category the policy does not declare."""
        key = (category, self.binding_rules(region))
        rule = self._rules.get(key)
        if rule is None:
            if category not in self.categories:
                raise ValueError(f"{category!r} is not a declared category")
            rule = self._rules[key] = self._resolve(category, key[1])
        return rule

    def binding_rules(self, region: str) -> RuleSet:
        """The positions in `region_rules` of the rules whose region overlaps `region` (a
        normalized code, '' for none); kept only for a code in its normalized form."""
        found = self._binding.get(region)
        if found is None:
            places = self.regions.places(region)
            found = tuple(i for i, territory in enumerate(self._territories)
                          if any(territory.touches(place) for place in places))
            if self.regions.normalize(region) == region:
                self._binding[region] = found
        return found

    def sources(self, category: str) -> tuple[str, ...]:
        """Every category `category` is derived from, transitively, in first-seen order."""
        found = self._sources.get(category)
        if found is None:  # not a declared category: worked out, not kept
            found = tuple(_closure(category, self.declared_sources))
        return found

    def declared_sources(self, category: str) -> tuple[str, ...]:
        """The derived_from declared on the category or any of its ancestors."""
        return declared_sources(category, self._derived)

    def _resolve(self, category: str, binding: RuleSet) -> CategoryRule:
        basis = self._subtree_basis(category)
        for rule in (self.region_rules[i] for i in binding):
            if any(overlaps(scope, category) for scope in rule.prohibit):
                basis = PROHIBITED
            elif basis == TERMS and any(overlaps(scope, category) for scope in rule.consent):
                basis = CONSENT
        needs_user = any(node in self._user_consent for node in ancestors(category))
        return CategoryRule(basis=basis, needs_user=needs_user)

    def _subtree_basis(self, category: str) -> str:
        """The strictest basis of any leaf in the category's subtree (fail closed)."""
        leaves = [node for node in self.categories.subtree(category) if self.categories.is_leaf(node)]
        return max((self._leaf_basis(leaf) for leaf in leaves), key=_STRICTNESS.__getitem__)

    def _leaf_basis(self, leaf: str) -> str:
        return next(self._basis[key] for key in ancestors(leaf) if key in self._basis)


def declared_sources(category: str, derived: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The derived_from declared on the category or any of its ancestors, broadest first."""
    seen: list[str] = []
    for node in reversed(ancestors(category)):
        seen.extend(s for s in derived.get(node, ()) if s not in seen)
    return tuple(seen)


def _closure(category: str, direct: Callable[[str], Sequence[str]]) -> list[str]:
    found: list[str] = []
    pending = list(direct(category))
    while pending:
        source = pending.pop(0)
        if source not in found and source != category:
            found.append(source)
            pending.extend(direct(source))
    return found


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse and validate a policy from TOML text; raises PolicyError naming what is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, "", f"not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses per nesting level of arrays and tables
        raise PolicyError(source, "", "not valid TOML: nested too deeply") from None
    return _PolicyParser(source, data).build(text)


class _PolicyParser:
    """Turns the TOML document into a Policy, one validated section at a time."""

    def __init__(self, source: str, data: dict[str, Any]) -> None:
        self.source, self.data = source, data

    def fail(self, key: str, problem: str) -> PolicyError:
        return PolicyError(self.source, key, problem)

    def build(self, text: str) -> Policy:
        self._check_keys(self.data, _TOP_KEYS, "")
        categories_table = self._table(self.data, "categories", required=True)
        categories = Taxonomy(self._category_keys(categories_table))
        purposes = Taxonomy(self._purposes())
        basis, user, derived = self._category_fields(categories_table, categories)
        self._check_leaves_have_basis(categories, basis)
        self._check_no_cycles(categories, derived)
        regions, rules = self._regions(categories)
        return Policy(
            source=self.source, version=policy_version(text),
            name=str(self.data.get("name", "")), categories=categories, purposes=purposes,
            basis=basis, user_consent=user, derived_from=derived, regions=regions,
            region_rules=rules, terms_effective=self._terms_effective(),
            max_staleness_seconds=self._max_staleness())

    def _check_keys(self, table: dict[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                path = f"{where}.{key}" if where else key
                raise self.fail(path, f"unknown key (expected one of {', '.join(sorted(allowed))})")

    def _table(self, parent: dict[str, Any], key: str, *, required: bool = False) -> dict[str, Any]:
        value = parent.get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, "missing or not a table")
        return value

    def _keys(self, value: Any, where: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, "must be a list of strings")
        for key in value:
            if not is_well_formed_key(key):
                raise self.fail(where, f"'{key}' is not a dotted lowercase key")
        return value

    def _category_keys(self, table: dict[str, Any]) -> list[str]:
        for key, fields in table.items():
            if not is_well_formed_key(key):
                raise self.fail(f"categories.{key}", "not a dotted lowercase key")
            if not isinstance(fields, dict):
                raise self.fail(f"categories.{key}", "must be a table")
        return list(table)

    def _purposes(self) -> list[str]:
        purposes = self._keys(self.data.get("purposes"), "purposes")
        if not purposes:
            raise self.fail("purposes", "declares no purpose")
        return purposes

    def _category_fields(self, table: dict[str, Any], categories: Taxonomy) -> tuple[
            dict[str, str], frozenset[str], dict[str, tuple[str, ...]]]:
        basis: dict[str, str] = {}
        user: set[str] = set()
        derived: dict[str, tuple[str, ...]] = {}
        for key, fields in table.items():
            where = f"categories.{key}"
            self._check_keys(fields, _CATEGORY_KEYS, where)
            if "basis" in fields:
                basis[key] = self._basis(fields["basis"], f"{where}.basis")
            if fields.get("user_consent", False) is True:
                user.add(key)
            elif not isinstance(fields.get("user_consent", False), bool):
                raise self.fail(f"{where}.user_consent", "must be true or false")
            if "derived_from" in fields:
                derived[key] = tuple(self._declared(fields["derived_from"],
                                                    f"{where}.derived_from", categories))
        return basis, frozenset(user), derived

    def _basis(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or value not in _STRICTNESS:
            raise self.fail(where, f"unknown basis {value!r} (expected terms, consent or prohibited)")
        return str(value)

    def _declared(self, value: Any, where: str, categories: Taxonomy) -> list[str]:
        keys = self._keys(value, where)
        for key in keys:
            if key not in categories:
                raise self.fail(where, f"'{key}' is not a declared category")
        return keys

    def _check_leaves_have_basis(self, categories: Taxonomy, basis: dict[str, str]) -> None:
        for leaf in sorted(categories.leaves):
            if not any(node in basis for node in ancestors(leaf)):
                raise self.fail(f"categories.{leaf}", "has no basis (set one here or on an ancestor)")

    def _check_no_cycles(self, categories: Taxonomy,
                         derived: dict[str, tuple[str, ...]]) -> None:
        def direct(key: str) -> tuple[str, ...]:
            return declared_sources(key, derived)

        for start in sorted(categories.nodes):
            path = _find_cycle(start, direct)
            if path:
                first = next(node for node in ancestors(path[0]) if node in derived)
                raise self.fail(f"categories.{first}.derived_from",
                                "derived_from cycle: " + " -> ".join(path))

    def _regions(self, categories: Taxonomy) -> tuple[Regions, tuple[RegionRule, ...]]:
        table = self._table(self.data, "regions")
        self._check_keys(table, {"groups", "aliases", "rules"}, "regions")
        groups = {name.upper(): frozenset(self._codes(members, f"regions.groups.{name}"))
                  for name, members in self._table(table, "groups").items()}
        regions = Regions(groups, self._aliases(self._table(table, "aliases"), groups))
        listed = table.get("rules", [])
        if not isinstance(listed, list):
            raise self.fail("regions.rules", "must be a list of tables ([[regions.rules]])")
        rules = tuple(self._region_rule(rule, f"regions.rules[{i}]", regions, categories)
                      for i, rule in enumerate(listed))
        return regions, rules

    def _codes(self, members: Any, where: str) -> list[str]:
        if not isinstance(members, list) or not members:
            raise self.fail(where, "must be a non-empty list of ISO 3166 codes")
        return [self._assigned(member, where) for member in members]

    def _assigned(self, value: Any, where: str) -> str:
        """The upper-cased code when `value` is an assigned ISO 3166 country or subdivision."""
        code = country_or_subdivision(value) if isinstance(value, str) else None
        if code is None:
            raise self.fail(where, f"{value!r} is not an ISO 3166 country or subdivision code")
        return code

    def _aliases(self, table: dict[str, Any], groups: Mapping[str, frozenset[str]]) -> dict[str, str]:
        """Other spellings of assigned codes (`EL = "GR"`); an alias may not hide a real
        code or a group, which would change what that code means."""
        aliases: dict[str, str] = {}
        for name, target in table.items():
            where = f"regions.aliases.{name}"
            if not name.strip() or country_or_subdivision(name) or name.upper() in groups:
                raise self.fail(where, f"{name!r} is already an ISO 3166 code or a group (or empty)")
            aliases[name.upper()] = self._assigned(target, where)
        return aliases

    def _region_rule(self, rule: Any, where: str, regions: Regions,
                     categories: Taxonomy) -> RegionRule:
        if not isinstance(rule, dict):
            raise self.fail(where, "must be a table")
        self._check_keys(rule, _RULE_KEYS, where)
        region = regions.normalize(rule.get("region", "")) if isinstance(rule.get("region"), str) else None
        if region is None:
            raise self.fail(f"{where}.region",
                            f"{rule.get('region')!r} is not a declared group or alias, "
                            "or an assigned ISO 3166 code")
        consent = self._declared(rule.get("consent", []), f"{where}.consent", categories)
        prohibit = self._declared(rule.get("prohibit", []), f"{where}.prohibit", categories)
        return RegionRule(region, tuple(consent), tuple(prohibit))

    def _terms_effective(self) -> Micros | None:
        value = self.data.get("terms_effective")
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise self.fail("terms_effective",
                            f"{value!r} is not a timestamp with a zone (e.g. 2023-07-27T00:00:00Z)")
        return to_micros(value)

    def _max_staleness(self) -> float:
        value = self.data.get("max_staleness_seconds", DEFAULT_MAX_STALENESS_SECONDS)
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not 0 < value < float("inf")):  # NaN compares false: never stale
            raise self.fail("max_staleness_seconds", f"{value!r} is not a positive number of seconds")
        return float(value)


def _find_cycle(start: str, direct: Callable[[str], Sequence[str]]) -> list[str]:
    """A derived_from path from `start` back to itself, or [] (depth-first, on keys)."""
    stack = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for source in direct(node):
            if source == start:
                return path + [source]
            if source not in seen:
                seen.add(source)
                stack.append((source, path + [source]))
    return []


def policy_version(text: str) -> str:
    """The content hash that names a policy text in every answer."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

