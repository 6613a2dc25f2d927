"""Observers read a columnar answer (CheckColumns) whole: its receipt line, with repeating
columns written as codes into their values, reads back as the receipts the same records
decided one by one would get, and its reasons are counted without a decision object per
record."""

from __future__ import annotations

import base64
import json
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maytrain.client.columns import columns_request
from sidecar.core.model import Rule
from sidecar.core.plans import PLAIN
from sidecar.observability.observers import DecidedBatch, reason_counts
from sidecar.observability.receipts.lines import (
    Receipts,
    count_receipts,
    expand,
    format_line,
    parse_line,
    sampled,
)
from sidecar.server.columns import ColumnRecords, RuleDecisions, columns_from_proto

NOW = 1_767_225_600_000_000
# Values JSON must escape, values it need not, and nulls (Arrow validity).
VALUES = st.one_of(st.none(), st.sampled_from(["acme", "", "a\"b", "back\\slash", "ünï",
                                                "new\nline", "\x7f", "r-1"]), st.text(max_size=4))
FIELDS = ("record_id", "account_id", "user_id", "data_category", "purpose")


def line(records, decisions, count: int) -> bytes:
    batch = DecidedBatch("CheckColumns", records, decisions, NOW, 3, "v", 0.0)
    return b"".join(format_line(Receipts(batch, records, decisions, count)))


def receipts(data: bytes) -> list[dict]:
    """What `maytrain receipts` prints of a line; the line's count must agree."""
    batch = parse_line(data.decode("utf-8"))
    assert batch is not None
    found = list(expand(batch))
    assert count_receipts(data) == len(found)
    return found


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(*[VALUES] * len(FIELDS), st.sampled_from(list(Rule))),
                     min_size=1, max_size=30),
       data=st.data())
def test_a_columnar_batch_gets_the_line_its_records_one_by_one_would(rows, data):
    table = pa.table({name: pa.array([row[i] for row in rows], pa.string())
                      for i, name in enumerate(FIELDS)})
    columns = columns_from_proto(columns_request(table))
    rules = np.array([row[-1] for row in rows], np.uint8)
    count = data.draw(st.integers(1, len(rows)), label="receipts kept")

    columnar = line(ColumnRecords(columns), RuleDecisions(rules), count)
    one_by_one = line(columns.records(), [PLAIN[Rule(int(r))] for r in rules], count)

    assert receipts(columnar) == receipts(one_by_one)


@given(st.lists(st.sampled_from(list(Rule)), max_size=200))
def test_a_columnar_answer_counts_its_reasons_as_its_decisions_would(rules):
    answer = RuleDecisions(np.array(rules, np.uint8))

    assert reason_counts(answer) == Counter(d.reason for d in answer)


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=40),
       rate=st.floats(0.05, 0.95))
def test_a_columnar_batch_is_sampled_as_its_records_one_by_one_would_be(ids, rate):
    table = pa.table({"record_id": ids, "account_id": ["acme"] * len(ids)})
    columns = columns_from_proto(columns_request(table))
    rules = np.array([list(Rule)[i % len(Rule)] for i in range(len(ids))], np.uint8)

    records, decisions = sampled(ColumnRecords(columns), RuleDecisions(rules), rate)
    rows, row_decisions = sampled(columns.records(), [PLAIN[Rule(int(r))] for r in rules], rate)

    assert isinstance(records, ColumnRecords)  # still columnar, never a Record per record
    assert len(records) == len(rows)
    if rows:
        assert receipts(line(records, decisions, len(rows))) == \
            receipts(line(rows, row_decisions, len(rows)))


def test_a_columnar_line_writes_repeating_columns_as_codes_and_ids_as_a_list():
    count = 300  # more than 256 ids: 2-byte codes where ids repeat
    table = pa.table({"record_id": [f"r{i}" for i in range(count)],
                      "account_id": [["acme", "beta"][i % 2] for i in range(count)]})
    columns = columns_from_proto(columns_request(table))
    rules = np.array([list(Rule)[i % len(Rule)] for i in range(count)], np.uint8)

    data = line(ColumnRecords(columns), RuleDecisions(rules), count)

    assert b'"record_id":["r0","r1",' in data
    assert b'"account":{"values":["acme","beta"],"codes":"' in data
    found = receipts(data)
    assert [r["account"] for r in found[:3]] == ["acme", "beta", "acme"]
    assert [r["reason"] for r in found] == [Rule(int(r)).reason.value for r in rules]


def coded_line(account: object) -> str:
    return ('{"time":"2026-01-01T00:00:00.000000Z","rpc":"CheckColumns","consent_version":3,'
            '"policy_version":"v","receipts":2,"record_id":["a","b"],"account":'
            + json.dumps(account) + ',"user":["",""],"category":["c","c"],'
            '"purpose":["ai","ai"],"reason":["ALLOWED_BY_TERMS","ALLOWED_BY_TERMS"]}')


def test_a_coded_column_reads_back_as_its_values():
    batch = parse_line(coded_line({"values": ["x", "y"], "codes": base64.b64encode(
        bytes([1, 0])).decode()}))
    assert batch is not None and batch["account"] == ["y", "x"]


@pytest.mark.parametrize("account", [
    {"values": ["x"], "codes": base64.b64encode(bytes([0, 1])).decode()},  # no value 1
    {"values": ["x"], "codes": base64.b64encode(bytes([0])).decode()},  # one code for two
    {"values": ["x"], "codes": "not base64!"},
    {"values": [], "codes": ""},
    {"codes": "AAA="},
    ["only one"],
], ids=["code-outside", "too-few-codes", "bad-base64", "no-values", "no-values-key",
        "short-list"])
def test_a_line_whose_column_does_not_give_every_receipt_is_no_receipt(account):
    assert parse_line(coded_line(account)) is None
