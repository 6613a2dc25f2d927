"""The fuzz targets on a fixed corpus, without atheris, so that they cannot rot; and the
inputs that still crash them, each a strict xfail naming the bug."""

from __future__ import annotations

import pytest
from fuzz_targets import policy_target, seeds, wire_target

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_pb2
from sidecar.core.errors import PolicyError
from sidecar.core.policy import parse_policy
from sidecar.policy_files import default_policy_text

POLICY_TEXT = default_policy_text()
TINY = 'purposes = ["ai"]\n[categories.a]\nbasis = "terms"\n'


def flipped(data: bytes) -> list[bytes]:
    """The input with each byte in turn inverted, and cut after each byte."""
    return ([data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:] for i in range(len(data))]
            + [data[:i] for i in range(len(data))])


def stamped(seconds: int, nanos: int) -> bytes:
    record = consent_pb2.Record(account_id="sample-terms", data_category="service_generated.usage",
                                purpose="ai")
    record.collected_at.seconds, record.collected_at.nanos = seconds, nanos
    return b"\0" + record.SerializeToString()


def wire_corpus() -> list[bytes]:
    edges = [stamped(s, n) for s, n in ((-62_135_596_801, 0), (253_402_300_800, 0), (0, -1),
                                        (0, 10**9), (-(2**63), 0), (2**63 - 1, 2**31 - 1),
                                        (-62_135_596_800, 0), (253_402_300_799, 999_999_999))]
    many = b"\1" + pb.CheckBatchRequest(records=[consent_pb2.Record()] * 500).SerializeToString()
    corpus = [b"", b"\0", b"\1", b"\0\xff\xff", b"\1\x0a\x02\xc3\x28", many, *edges]
    for seed in seeds("wire"):
        corpus += [seed, *flipped(seed)]
    return corpus


def policy_corpus() -> list[bytes]:
    text = POLICY_TEXT
    variants = [text[:i] for i in range(0, len(text), 61)] + [
        text.replace('basis = "terms"', 'basis = "maybe"'),
        text.replace("max_staleness_seconds = 30", "max_staleness_seconds = -1"),
        text.replace("max_staleness_seconds = 30", "max_staleness_seconds = true"),
        text.replace('derived_from = ["customer_content"]', 'derived_from = ["customer_content.derived"]'),
        text.replace('consent = ["service_generated"]', 'consent = ["nowhere"]'),
        text.replace('region = "EU"', 'region = "XYZ-1234"'),
        text.replace("terms_effective = 2023-07-27T00:00:00Z", "terms_effective = 2023-07-27"),
        TINY + "[categories.b]\nderived_from = [\"a\"]\n[categories.a.x]\nderived_from = [\"b\"]\n",
        TINY + "[regions.groups]\nEU = []\n", TINY + "[regions]\nrules = [1]\n",
        "\x00\xff", "=", "[[", TINY.replace("ai", "AI"),
    ]
    return [v.encode() for v in variants] + [b"\xff\xfe" + text.encode()[:50]] + seeds("policy")


def run_all(target, corpus: list[bytes]) -> None:
    """Run the target on every input; fail naming the first input that raised."""
    for data in corpus:
        try:
            target(data)
        except Exception as exc:
            raise AssertionError(f"{target.__name__} raised on {data[:200]!r}") from exc


def test_the_wire_target_holds_on_its_corpus() -> None:
    run_all(wire_target, wire_corpus())


def test_the_policy_target_holds_on_its_corpus() -> None:
    run_all(policy_target, policy_corpus())


CRASHES = {  # inputs that once escaped parse_policy as something other than PolicyError
    "basis-list": TINY.replace('basis = "terms"', 'basis = ["terms"]'),  # TypeError
    "rules-int": TINY + "[regions]\nrules = 5\n",  # TypeError from enumerate()
    "deep-array": "a = " + "[" * 3000,  # tomllib's RecursionError
    # NaN compares false with every age, so that cache was never stale (failed open).
    "nan-staleness": POLICY_TEXT.replace("max_staleness_seconds = 30",
                                         "max_staleness_seconds = nan"),
    "inf-staleness": POLICY_TEXT.replace("max_staleness_seconds = 30",
                                         "max_staleness_seconds = inf"),
}


@pytest.mark.parametrize("text", list(CRASHES.values()), ids=list(CRASHES))
def test_a_policy_the_fuzzer_broke_is_refused_with_a_policy_error(text: str) -> None:
    policy_target(text.encode())
    with pytest.raises(PolicyError):
        parse_policy(text, "<test>")
