"""The chain's canonical form is pinned: a change to it would make every stored chain fail
to verify, so it may only come with a new chain format."""

from __future__ import annotations

import dataclasses
import json

import pytest

from sidecar.core.model import Account, Change, ConsentEntry, Effect, Erasure
from sidecar.store import chain

ENTRY = ConsentEntry("con_1", "acme", "customer_content", "ai.training", Effect.OPT_OUT,
                     user_id="u\u00e9", evidence='tick"et', recorded_at=5, recorded_by="t",
                     version=3)


def test_the_canonical_form_and_the_chain_are_pinned() -> None:
    assert chain.canonical(3, ENTRY) == (
        b'[3,"consent",["entry_id","account_id","category","purpose","effect","user_id",'
        b'"valid_from","valid_until","covers_data_from","evidence","recorded_at","recorded_by",'
        b'"version","ended_version"],["con_1","acme","customer_content","ai.training",'
        b'"OPT_OUT","u\\u00e9",null,null,null,"tick\\"et",5,"t",3,null]]')
    start = chain.genesis("0123")
    assert start == "98eb499866001b05dd929cd1e8b1feb825e56fccdb4522cac4e6239308a01ba0"
    assert chain.next_chain(start, 3, ENTRY) == (
        "1f52b602869e5348a5f48fd5a98792cab591d927c86e562c0cfe190658d574f9")


@pytest.mark.parametrize("row", [ENTRY, Account("acme", "DE", 7), Erasure("era_1", "acme")])
def test_the_fast_encoder_writes_what_json_writes(row) -> None:
    names = chain.FIELDS[type(row)]
    values = [getattr(row, name) for name in names]
    values = [v.value if isinstance(v, Effect) else v for v in values]
    expected = json.dumps([9, chain.kind_of(row), list(names), values], separators=(",", ":"))
    assert chain.canonical(9, row) == expected.encode("ascii")


@pytest.mark.parametrize("cls", [Account, ConsentEntry, Erasure])
def test_every_field_of_a_row_is_chained(cls) -> None:
    """A field added to a row must be chained too (and a new chain format decided)."""
    assert chain.FIELDS[cls] == tuple(f.name for f in dataclasses.fields(cls))


def test_chained_links_each_change_to_the_last() -> None:
    changes = [Change(1, Account("acme")), Change(2, ENTRY)]
    linked = list(chain.chained("start", changes))
    assert linked[0].chain == chain.chain_of("start", changes[0])
    assert linked[1].chain == chain.chain_of(linked[0].chain, changes[1])
