"""Region codes: assigned ISO 3166 countries and subdivisions, and the policy's named groups
and aliases, compared case-insensitively.

A code stands for a territory; a region rule binds every record whose region overlaps the
rule's region. So `US-CA` is bound by `US` rules and `DE` by `EU` rules, and — failing
closed, as scopes do — a record that names only `EU` is bound by the rules of each member.
A well-formed code nobody assigned (`XX`, `EU-DE`) is malformed: it names no territory, so
no rule could bind it.
"""

from __future__ import annotations

from collections.abc import Mapping

from .iso3166 import is_assigned


def country_or_subdivision(code: str) -> str | None:
    """The upper-cased code when it is an assigned country or subdivision, else None."""
    upper = code.upper()
    return upper if is_assigned(upper) else None


def _places_overlap(a: str, b: str) -> bool:
    """True when two country/subdivision codes share territory."""
    return a == b or a.split("-")[0] == b or b.split("-")[0] == a


class Territory:
    """The places a normalized code stands for, indexed so that whether one place shares
    territory with them is a few set lookups (`_places_overlap` against each place)."""

    __slots__ = ("places", "countries")

    def __init__(self, places: frozenset[str]) -> None:
        self.places = places
        self.countries = frozenset(place.split("-")[0] for place in places)

    def touches(self, place: str) -> bool:
        """True when the country or subdivision `place` shares territory with these places."""
        return (place in self.places or place in self.countries
                or place.split("-")[0] in self.places)


class Regions:
    """The policy's region groups and aliases, and how codes relate to each other.

    An alias is another spelling of an assigned code (`EL` for `GR`); it normalizes to it.
    """

    def __init__(self, groups: Mapping[str, frozenset[str]],
                 aliases: Mapping[str, str] | None = None) -> None:
        self.groups = {name.upper(): frozenset(members) for name, members in groups.items()}
        self.aliases = {name.upper(): code.upper() for name, code in (aliases or {}).items()}

    def normalize(self, code: str) -> str | None:
        """The canonical (upper-case) form of a group name, alias or assigned code; None
        when it is none of them."""
        upper = code.upper()
        if upper in self.groups:
            return upper
        return country_or_subdivision(self.aliases.get(upper, upper))

    def places(self, code: str) -> frozenset[str]:
        """The countries and subdivisions a normalized code stands for."""
        return self.groups.get(code, frozenset((code,)))

    def territory(self, code: str) -> Territory:
        """The places a normalized code stands for, ready for `Territory.touches`."""
        return Territory(self.places(code))

    def overlap(self, a: str, b: str) -> bool:
        """True when two normalized codes share territory."""
        return any(_places_overlap(x, y) for x in self.places(a) for y in self.places(b))
