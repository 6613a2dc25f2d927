"""Policy parsing: the default policy says what DESIGN.md 2a says, and a bad policy fails
with an error naming the file, the key and what is wrong."""

from __future__ import annotations

import pytest

from sidecar.core import PolicyError, parse_policy
from sidecar.core.policy import CONSENT, PROHIBITED, TERMS
from sidecar.core.times import parse_timestamp
from sidecar.policy_files import default_policy_text, load_policy

MINIMAL = """
purposes = ["ai.training"]
[categories.a]
basis = "terms"
"""


def test_default_policy_declares_the_taxonomy_of_the_design() -> None:
    policy = load_policy()
    assert policy.categories.leaves == {
        "service_generated.usage", "service_generated.telemetry", "service_generated.diagnostic",
        *(f"customer_content.{k}" for k in
          ("chat", "message", "file", "document", "whiteboard", "audio", "video")),
        *(f"customer_content.derived.{k}" for k in ("transcript", "summary", "embedding")),
        "account_data.billing", "account_data.profile"}
    assert {"ai.training.generative", "ai.training.non_generative", "ai.fine_tuning",
            "ai.evaluation", "product_improvement", "ai", "ai.training"} == policy.purposes.nodes


@pytest.mark.parametrize("category, basis, needs_user", [
    ("service_generated.usage", TERMS, False), ("service_generated.diagnostic", TERMS, False),
    ("customer_content.chat", CONSENT, False), ("customer_content.audio", CONSENT, True),
    ("customer_content.video", CONSENT, True), ("customer_content.derived.summary", CONSENT, False),
    ("account_data.billing", PROHIBITED, False), ("customer_content", CONSENT, False),
])
def test_default_policy_bases_and_user_consent(category, basis, needs_user) -> None:
    rule = load_policy().rule_for(category, "")
    assert (rule.basis, rule.needs_user) == (basis, needs_user)


def test_default_policy_terms_date_staleness_and_eu_rule() -> None:
    policy = load_policy()
    assert policy.terms_effective == parse_timestamp("2023-07-27T00:00:00Z")
    assert policy.max_staleness_seconds == 30
    assert len(policy.regions.groups["EU"]) == 27
    assert policy.rule_for("service_generated.usage", "DE").basis == CONSENT
    assert policy.rule_for("service_generated.usage", "US").basis == TERMS


def test_derived_content_derives_from_customer_content() -> None:
    assert load_policy().sources("customer_content.derived.embedding") == ("customer_content",)


def test_policy_version_is_a_content_hash() -> None:
    text = default_policy_text()
    assert load_policy().version == parse_policy(text).version
    assert parse_policy(text + "\n# changed\n").version != parse_policy(text).version


def test_a_policy_file_that_cannot_be_read_names_the_file(tmp_path) -> None:
    with pytest.raises(PolicyError, match="nope.toml: cannot read"):
        load_policy(tmp_path / "nope.toml")


@pytest.mark.parametrize("text, key, problem", [
    ("purposes = [", "", "not valid TOML"),
    ('colour = "red"\n' + MINIMAL, "colour", "unknown key"),
    (MINIMAL.replace('"terms"', '"maybe"'), "categories.a.basis", "unknown basis 'maybe'"),
    (MINIMAL + '[categories.b]\n', "categories.b", "has no basis"),
    (MINIMAL + '[categories."a.x"]\nderived_from = ["zzz"]\n',
     "categories.a.x.derived_from", "'zzz' is not a declared category"),
    (MINIMAL + '[categories.b]\nbasis = "consent"\nderived_from = ["c"]\n'
     '[categories.c]\nbasis = "consent"\nderived_from = ["b"]\n',
     "categories.b.derived_from", "derived_from cycle: b -> c -> b"),
    (MINIMAL + '[categories."a.x"]\n[categories."a.x.y"]\n[categories.a2]\nbasis = "terms"\n'
     'derived_from = ["a"]\n[categories.a3]\nbasis="terms"\n', None, None),
    (MINIMAL + '[categories.b]\nbasis = "consent"\nderived_from = ["b.x"]\n[categories."b.x"]\n',
     "categories.b.derived_from", "cycle"),
    ("terms_effective = 2023-07-27T00:00:00\n" + MINIMAL, "terms_effective",
     "not a timestamp with a zone"),
    ('terms_effective = "yesterday"\n' + MINIMAL, "terms_effective", "not a timestamp"),
    ("max_staleness_seconds = 0\n" + MINIMAL, "max_staleness_seconds", "not a positive"),
    (MINIMAL + '[regions.groups]\nEU = ["DE", "Germany"]\n', "regions.groups.EU",
     "'Germany' is not an ISO 3166"),
    (MINIMAL + '[[regions.rules]]\nregion = "Mars"\nconsent = ["a"]\n',
     "regions.rules[0].region", "not a declared group"),
    (MINIMAL + '[[regions.rules]]\nregion = "QQ"\nconsent = ["a"]\n',
     "regions.rules[0].region", "'QQ' is not a declared group or alias, or an assigned ISO 3166"),
    (MINIMAL + '[regions.groups]\nEU = ["DE", "XX"]\n', "regions.groups.EU",
     "'XX' is not an ISO 3166"),
    (MINIMAL + '[regions.aliases]\nEL = "XX"\n', "regions.aliases.EL", "'XX' is not an ISO 3166"),
    (MINIMAL + '[regions.aliases]\nEL = 30\n', "regions.aliases.EL", "30 is not an ISO 3166"),
    (MINIMAL + '[regions.aliases]\nge = "GR"\n', "regions.aliases.ge",
     "'ge' is already an ISO 3166 code or a group"),
    (MINIMAL + '[regions.groups]\nEU = ["DE"]\n[regions.aliases]\neu = "DE"\n',
     "regions.aliases.eu", "already an ISO 3166 code or a group"),
    (MINIMAL + '[regions.aliases]\nEL = "GR"\n[[regions.rules]]\nregion = "el"\nconsent = ["a"]\n',
     None, None),
    (MINIMAL + '[[regions.rules]]\nregion = "US"\nprohibit = ["b"]\n',
     "regions.rules[0].prohibit", "'b' is not a declared category"),
    ('purposes = []\n[categories.a]\nbasis = "terms"\n', "purposes", "declares no purpose"),
    ('purposes = ["AI"]\n[categories.a]\nbasis = "terms"\n', "purposes", "not a dotted lowercase"),
], ids=lambda v: str(v)[:40])
def test_a_bad_policy_names_file_key_and_problem(text, key, problem) -> None:
    if key is None:
        parse_policy(text, "ok.toml")
        return
    with pytest.raises(PolicyError) as raised:
        parse_policy(text, "bad.toml")
    assert str(raised.value).startswith(f"bad.toml: {key}: " if key else "bad.toml: ")
    assert problem in str(raised.value)


def test_default_policy_aliases_the_codes_people_write_for_greece_and_the_uk() -> None:
    policy = load_policy()
    assert policy.regions.aliases == {"EL": "GR", "UK": "GB"}
    assert [policy.normalize_region(c) for c in ("el", "Uk", "GR", "gb", "eu")] == [
        "GR", "GB", "GR", "GB", "EU"]


def test_a_rule_for_an_alias_binds_the_code_it_stands_for() -> None:
    policy = parse_policy(MINIMAL + '[regions.aliases]\nEL = "GR"\n'
                          '[[regions.rules]]\nregion = "el"\nprohibit = ["a"]\n')
    assert policy.rule_for("a", "GR").basis == PROHIBITED


def test_deriving_from_ones_own_ancestor_is_not_a_cycle() -> None:
    policy = parse_policy(MINIMAL + '[categories."a.x"]\nderived_from = ["a"]\n[categories."a.y"]\n')
    assert policy.sources("a.x") == ("a",)
