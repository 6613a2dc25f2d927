"""The snapshot streamed by account (what a cold start packs) holds exactly the rows of
the plain snapshot, at the same version and chain, on every backend, across pages."""

from __future__ import annotations

from sidecar.core import Effect
from sidecar.store import AccountRequest, ConsentRequest, ErasureRequest
from sidecar.store.sql import grouped


def test_the_grouped_snapshot_holds_the_snapshots_rows(store, monkeypatch) -> None:
    monkeypatch.setattr(grouped, "PAGE", 3)  # several pages, some accounts without rows
    requests = [AccountRequest(f"acct-{n:02d}", "US") for n in range(10)]
    requests += [ConsentRequest(f"acct-{n % 7:02d}", "customer_content", "ai", Effect.GRANT,
                                user_id=f"u{n % 2}") for n in range(12)]
    requests += [ErasureRequest("acct-04", "u1"), ErasureRequest("acct-09")]
    store.write(requests, actor="t")
    plain = store.snapshot()
    with store.snapshot_grouped() as (version, chain, groups):
        found = list(groups)
    assert (version, chain) == (plain.version, plain.chain)
    assert [account_id for account_id, *_ in found] == sorted(f"acct-{n:02d}" for n in range(10))
    rows = [row for _, account, entries, erasures in found
            for row in (account, *entries, *erasures)]
    assert sorted(map(repr, rows)) == sorted(map(repr, plain.rows))
