"""Region codes (DESIGN.md section 2): only assigned ISO 3166 codes, declared groups and
declared aliases are regions, and no spelling of a code escapes the rules it is under."""

from __future__ import annotations

import pycountry
from consent_strategies import NOW, POLICY, Scenario, scenarios
from hypothesis import given
from hypothesis import strategies as st

from sidecar.core import Reason, decide_batch
from sidecar.core.iso3166 import COUNTRIES, SUBDIVISIONS, is_assigned

# Valid codes of every kind, and codes that only look valid.
CODES = ["DE", "GR", "EL", "UK", "GB", "US", "US-CA", "FR-IDF", "DE-BE", "GB-ENG", "EU",
         "XX", "QQ", "AA", "EU-DE", "DE-XX", "UK-ENG", "ZZ-99"]


@st.composite
def spellings(draw) -> tuple[str, str]:
    """A code and one spelling of it, each letter in either case."""
    code = draw(st.sampled_from(CODES))
    cases = draw(st.lists(st.booleans(), min_size=len(code), max_size=len(code)))
    return code, "".join(c.lower() if low else c for c, low in zip(code, cases, strict=True))


@given(scenarios(), spellings())
def test_no_spelling_of_a_region_escapes_a_rule(s: Scenario, spelling: tuple[str, str]) -> None:
    code, spelled = spelling
    index = s.index()
    as_written = decide_batch([r._replace(region=spelled) for r in s.records], index, POLICY, NOW)
    canonical = decide_batch([r._replace(region=code) for r in s.records], index, POLICY, NOW)
    assert as_written == canonical


def test_every_assigned_country_and_subdivision_is_a_region_in_any_case() -> None:
    assert len(COUNTRIES) == len(pycountry.countries) and len(SUBDIVISIONS) > 5000
    for code in sorted(COUNTRIES | SUBDIVISIONS):
        assert POLICY.normalize_region(code.lower()) == code


def test_codes_nobody_assigned_are_not_regions() -> None:
    for code in ("XX", "QQ", "AA", "ZZ", "EL", "UK", "EU", "EU-DE", "US-ZZ", "XK"):
        assert not is_assigned(code), code
    for code in ("XX", "qq", "AA", "EU-DE", "eu-1", "UK-ENG"):
        assert POLICY.normalize_region(code) is None, code


@given(scenarios(), st.sampled_from([("EL", "GR"), ("uk", "GB"), ("El", "gr")]))
def test_an_alias_is_the_code_it_stands_for_in_every_decision(
        s: Scenario, pair: tuple[str, str]) -> None:
    alias, code = pair
    index = s.index()
    assert (decide_batch([r._replace(region=alias) for r in s.records], index, POLICY, NOW)
            == decide_batch([r._replace(region=code) for r in s.records], index, POLICY, NOW))


@given(scenarios(), st.sampled_from(["XX", "qq", "AA", "EU-DE", "de-xx"]))
def test_an_unassigned_region_is_an_invalid_record_whatever_else_holds(
        s: Scenario, region: str) -> None:
    records = [r._replace(region=region) for r in s.records]
    for decision in decide_batch(records, s.index(), POLICY, NOW):
        assert decision.reason is Reason.DENIED_INVALID_RECORD
