"""The assigned ISO 3166 codes: countries (ISO 3166-1 alpha-2) and their subdivisions
(ISO 3166-2), read once at import from the pinned `pycountry` data set.

A data set, not a hand-typed list: codes are assigned and withdrawn by the ISO 3166
Maintenance Agency, and a new pycountry release follows them.
"""

from __future__ import annotations

import pycountry

COUNTRIES: frozenset[str] = frozenset(country.alpha_2 for country in pycountry.countries)
"""Every assigned ISO 3166-1 alpha-2 code (`DE`, `GR`, `GB`; not `EU`, `EL`, `UK`, `XX`)."""

SUBDIVISIONS: frozenset[str] = frozenset(sub.code for sub in pycountry.subdivisions)
"""Every ISO 3166-2 subdivision code (`US-CA`, `FR-IDF`), each under an assigned country."""


def is_assigned(code: str) -> bool:
    """True for an assigned country or subdivision code, in upper case."""
    return code in COUNTRIES or code in SUBDIVISIONS
