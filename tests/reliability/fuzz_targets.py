"""Coverage-guided fuzz targets (atheris) for the wire conversion and the policy parser.

Each target is a plain function of bytes that raises only on a bug, so it runs three
ways: under atheris for a bounded time (`scripts/fuzz`), on a fixed corpus in pytest
(test_fuzz_targets.py), and by hand:

    python tests/reliability/fuzz_targets.py wire|policy [libFuzzer flags] [CORPUS_DIR]
"""

# ruff: noqa: E402 - under atheris the code under test is imported inside instrumentation

from __future__ import annotations

import sys

if __name__ == "__main__":  # instrument only maytrain and the TOML parser: fast to start
    import atheris

    _instrumenting = atheris.instrument_imports(include=["sidecar", "tomllib"])
    _instrumenting.__enter__()

import functools
import tempfile
from pathlib import Path

from google.protobuf.message import DecodeError

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_pb2
from sidecar.core import ConsentIndex, PolicyError, Reason, decide, decide_batch, parse_policy
from sidecar.core.times import parse_timestamp
from sidecar.policy_files import default_policy_text, load_policy
from sidecar.samples import load_sample
from sidecar.server.convert import add_decisions, decision_to_proto, records_from_proto
from sidecar.store import open_store

POLICY = load_policy()
NOW = parse_timestamp("2026-06-01T00:00:00Z")
MIN_SECONDS, MAX_SECONDS = -62_135_596_800, 253_402_300_799  # 0001-01-01 .. 9999-12-31

if __name__ == "__main__":
    _instrumenting.__exit__(None, None, None)


@functools.cache
def sample_index() -> ConsentIndex:
    """The sample data's consent index, current at NOW (built once, through a store)."""
    with tempfile.TemporaryDirectory() as tmp, open_store(
            f"sqlite:///{tmp}/fuzz.db", create=True, policy=POLICY) as store:
        load_sample(store, actor="fuzz")
        snapshot = store.snapshot()
    return ConsentIndex.build(snapshot.version, snapshot.rows, synced_at=NOW)


def wire_target(data: bytes) -> None:
    """Bytes -> a Record (first byte even) or a CheckBatchRequest (odd) -> core records ->
    decisions. Only the parser may refuse; convert flags every out-of-range timestamp; no
    record it flags is allowed; a batch decides as each record alone, explained or not."""
    if not data:
        return
    try:
        if data[0] % 2 == 0:
            messages, default = [consent_pb2.Record.FromString(data[1:])], ""
        else:
            request = pb.CheckBatchRequest.FromString(data[1:])
            messages, default = list(request.records), request.default_purpose
    except DecodeError:
        return
    records = records_from_proto(messages, default)
    index = sample_index()
    decisions = decide_batch(records, index, POLICY, NOW)
    explained = decide_batch(records, index, POLICY, NOW, explain=True)
    assert len(decisions) == len(explained) == len(messages)
    for message, record, decision, with_why in zip(messages, records, decisions, explained,
                                                   strict=True):
        if _out_of_range(message):
            assert record.problem, f"convert took an out-of-range collected_at: {message}"
        if record.problem:
            assert decision.reason is Reason.DENIED_INVALID_RECORD, (record, decision)
        alone = decide(record, index, POLICY, NOW)
        assert decision.reason is alone.reason is with_why.reason, (record, decision, alone, with_why)
        assert decision_to_proto(record, decision).record_id == message.record_id
    response = pb.CheckBatchResponse()
    add_decisions(response.decisions, records, decisions)
    response.SerializeToString()


def _out_of_range(message: consent_pb2.Record) -> bool:
    if not message.HasField("collected_at"):
        return False
    stamp = message.collected_at
    return not (MIN_SECONDS <= stamp.seconds <= MAX_SECONDS and 0 <= stamp.nanos < 10**9)


def policy_target(data: bytes) -> None:
    """Bytes -> text -> parse_policy: a PolicyError, or a policy every part of which can be
    asked about (rules, sources, regions) and whose max_staleness is a positive number."""
    text = data.decode("utf-8", errors="replace")
    try:
        policy = parse_policy(text, "<fuzz>")
    except PolicyError:
        return
    assert policy.max_staleness_seconds > 0, policy.max_staleness_seconds  # also refuses NaN
    regions = ["", *sorted(policy.regions.groups), "DE", "US-CA"]
    for category in sorted(policy.categories.nodes):
        policy.sources(category)
        for region in regions:
            policy.rule_for(category, policy.normalize_region(region) or "")


TARGETS = {"wire": wire_target, "policy": policy_target}


def seeds(name: str) -> list[bytes]:
    """A starting corpus for a target: well-formed inputs the fuzzer mutates from."""
    if name == "policy":
        return [default_policy_text().encode(), b'purposes = ["ai"]\n[categories.a]\nbasis = "terms"\n']
    record = consent_pb2.Record(record_id="r", account_id="sample-consented", user_id="alice",
                                data_category="customer_content.audio", purpose="ai.training",
                                region="us", derived_from=["customer_content.chat"])
    record.collected_at.FromSeconds(1_750_000_000)
    batch = pb.CheckBatchRequest(records=[record, consent_pb2.Record(
        account_id="sample-terms", data_category="service_generated.usage")], default_purpose="ai")
    return [b"\0" + record.SerializeToString(), b"\1" + batch.SerializeToString()]


def main(argv: list[str]) -> None:
    """Run one target under atheris; an empty corpus directory is seeded first (a file
    instead of a directory runs that one input, to reproduce a crash)."""
    import atheris

    name, flags = argv[1], argv[2:]
    corpus = [arg for arg in flags if not arg.startswith("-")]
    for folder in corpus:
        if Path(folder).is_dir() and not any(Path(folder).iterdir()):
            for n, seed in enumerate(seeds(name)):
                (Path(folder) / f"seed-{n}").write_bytes(seed)
    sample_index()  # build it before fuzzing, so its cost is not counted as a slow input
    atheris.Setup([argv[0], *flags], TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
