"""Region codes: ISO 3166 countries and subdivisions, and the policy's named groups.

A code stands for a territory; a region rule binds every record whose region overlaps the
rule's region. So `US-CA` is bound by `US` rules and `DE` by `EU` rules, and — failing
closed, as scopes do — a record that names only `EU` is bound by the rules of each member.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_COUNTRY = re.compile(r"[A-Z]{2}")
_SUBDIVISION = re.compile(r"([A-Z]{2})-[A-Z0-9]{1,3}")


def country_or_subdivision(code: str) -> str | None:
    """The upper-cased code when it is a well-formed country or subdivision, else None."""
    upper = code.upper()
    if _COUNTRY.fullmatch(upper) or _SUBDIVISION.fullmatch(upper):
        return upper
    return None


def _places_overlap(a: str, b: str) -> bool:
    """True when two country/subdivision codes share territory."""
    return a == b or a.split("-")[0] == b or b.split("-")[0] == a


class Regions:
    """The policy's region groups, and how codes relate to each other."""

    def __init__(self, groups: Mapping[str, frozenset[str]]) -> None:
        self.groups = {name.upper(): frozenset(members) for name, members in groups.items()}

    def normalize(self, code: str) -> str | None:
        """The canonical (upper-case) form of a group name or ISO code; None if malformed."""
        upper = code.upper()
        if upper in self.groups:
            return upper
        return country_or_subdivision(upper)

    def places(self, code: str) -> frozenset[str]:
        """The countries and subdivisions a normalized code stands for."""
        return self.groups.get(code, frozenset((code,)))

    def overlap(self, a: str, b: str) -> bool:
        """True when two normalized codes share territory."""
        return any(_places_overlap(x, y) for x in self.places(a) for y in self.places(b))
