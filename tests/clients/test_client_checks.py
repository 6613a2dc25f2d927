"""check and check_many against the real sidecar, for every client kind and listener."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sample_cases import ALLOWED, BY_REASON, expected_reasons, mixed

from maytrain.client import Decision, Reason, Record, Verdict
from maytrain.v1 import consent_pb2


@pytest.mark.parametrize("reason", list(BY_REASON), ids=str)
def test_every_reason_comes_back_as_a_readable_decision(client, reason) -> None:
    decision = client.check(BY_REASON[reason])
    assert decision.reason == reason and decision.reason == str(reason)
    assert decision.allowed == str(reason).startswith("ALLOWED")
    assert decision.verdict == (Verdict.ALLOW if decision.allowed else Verdict.DENY)
    assert decision.consent_version > 0 and decision.policy_version.startswith("sha256:")


def test_a_decision_is_a_frozen_dataclass_that_echoes_the_record_id(client) -> None:
    decision = client.check({**ALLOWED, "record_id": "row-17"})
    assert isinstance(decision, Decision) and decision.record_id == "row-17"
    with pytest.raises(AttributeError):
        decision.reason = Reason.DENIED_BY_POLICY  # type: ignore[misc]


def test_dicts_dataclasses_and_protobuf_records_are_decided_alike(client) -> None:
    fields = {k: v for k, v in ALLOWED.items() if k != "collected_at"}
    as_dataclass = Record(**fields, collected_at=datetime(2025, 6, 1, tzinfo=UTC))
    as_message = consent_pb2.Record(**fields)
    as_message.collected_at.FromJsonString("2025-06-01T00:00:00Z")
    with_payload = {**ALLOWED, "text": "a payload the client ignores", "tokens": [1, 2]}
    reasons = {client.check(r).reason for r in (ALLOWED, as_dataclass, as_message, with_payload)}
    assert reasons == {Reason.ALLOWED_BY_TERMS}


@pytest.mark.parametrize("collected_at", [
    "2025-06-01T00:00:00Z", "2025-06-01T02:00:00+02:00", "2025-06-01",
    datetime(2025, 6, 1), datetime(2025, 6, 1, 2, tzinfo=timezone(timedelta(hours=2))),
], ids=["iso-z", "iso-offset", "iso-date", "naive-datetime-as-utc", "aware-datetime"])

def test_collected_at_may_be_a_datetime_or_an_iso_string(client, collected_at) -> None:
    assert client.check({**ALLOWED, "collected_at": collected_at}).allowed


def test_a_collected_at_the_terms_do_not_cover_is_denied_whatever_its_form(client) -> None:
    before_terms = datetime(2023, 7, 26, 23, 59, tzinfo=UTC)
    for value in (before_terms, before_terms.isoformat()):
        assert client.check({**ALLOWED, "collected_at": value}).reason == "DENIED_OUTSIDE_WINDOW"


def test_an_unreadable_collected_at_is_an_invalid_record_not_an_exception(client) -> None:
    decision = client.check({**ALLOWED, "collected_at": "last tuesday"}, explain=True)
    assert decision.reason == Reason.DENIED_INVALID_RECORD
    assert "collected_at" in decision.explanation


def test_explain_is_passed_through(client) -> None:
    plain = client.check(BY_REASON[Reason.DENIED_OPTED_OUT])
    explained = client.check(BY_REASON[Reason.DENIED_OPTED_OUT], explain=True)
    assert plain.explanation == ""
    assert explained.explanation.startswith("rule 6 DENIED_OPTED_OUT:")


def test_the_default_purpose_fills_records_that_name_none(connect) -> None:
    record = {**ALLOWED, "purpose": ""}
    assert connect().check(record).reason == Reason.DENIED_INVALID_RECORD
    defaulted = connect(default_purpose="ai.training")
    assert defaulted.check(record).reason == Reason.ALLOWED_BY_TERMS
    assert defaulted.check_many([record])[0].reason == Reason.ALLOWED_BY_TERMS
    assert [d.reason for d in defaulted.check_many([{**record, "purpose": "no.such"}])] == [
        Reason.DENIED_INVALID_RECORD]


def test_check_many_splits_into_batches_and_keeps_the_order(connect) -> None:
    records = mixed(250)
    decisions = connect(max_batch=7, max_concurrency=3).check_many(records)
    assert [d.record_id for d in decisions] == [r["record_id"] for r in records]
    assert [d.reason for d in decisions] == expected_reasons(records)


def test_check_many_takes_any_iterable_and_answers_nothing_with_nothing(client) -> None:
    assert client.check_many([]) == []
    assert [d.record_id for d in client.check_many(r for r in mixed(3))] == ["r0", "r1", "r2"]


def test_a_version_the_store_never_reaches_is_denied_as_stale(client) -> None:
    """The sidecar waits for the version (at most 2 s, within the deadline), then denies."""
    decision = client.check(ALLOWED, min_consent_version=10**9, timeout=3)
    assert decision.reason == Reason.DENIED_STALE_CACHE


def test_a_write_is_seen_by_asking_for_its_consent_version(client, sidecar, kind) -> None:
    """The session's sidecar syncs every 30 s: a new account is known at once only to a
    call that passes the write's version on (check, check_many and filter alike)."""
    def new_account(method: str) -> tuple[dict, int]:
        account = f"client-{method}-" + "-".join(kind)
        added = sidecar.cli("account", "add", account, "--region", "US", "--json")
        return {**ALLOWED, "account_id": account}, json.loads(added.stdout)["consent_version"]

    record, version = new_account("check")
    decision = client.check(record, min_consent_version=version)
    assert decision.reason == Reason.ALLOWED_BY_TERMS and decision.consent_version >= version
    record, version = new_account("many")
    assert client.check_many([record], min_consent_version=version)[0].allowed
    record, version = new_account("filter")
    assert list(client.filter([record], min_consent_version=version)) == [record]
