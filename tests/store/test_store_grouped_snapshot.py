"""The snapshot streamed by account (what a cold start packs) holds exactly the rows of
the plain snapshot, at the same version and chain, on every backend, across pages; and
the snapshot packed as it is read holds what the plain snapshot builds."""

from __future__ import annotations

from sidecar.core import ConsentIndex, Effect
from sidecar.store import AccountRequest, ConsentRequest, ErasureRequest
from sidecar.store.sql import grouped
from sidecar.sync import latest_time


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


def comparable(state) -> tuple:
    """What an account state holds, by value (a user's entries in their order)."""
    return (state.account, [scope.entry for scope in state.account_scopes],
            {user: [s.entry for s in scopes] for user, scopes in state.user_scopes.items()},
            state.erasures, state.erased, state.erased_users)


def test_the_packed_snapshot_holds_what_the_plain_snapshot_builds(store, clock) -> None:
    requests = [AccountRequest(f"acct-{n:02d}", ["US", "", "DE"][n % 3]) for n in range(8)]
    requests += [AccountRequest("accöunt-ü", "FR")]
    requests += [ConsentRequest(f"acct-{n % 6:02d}", ["customer_content", "service_generated",
                                                      "customer_content.audio"][n % 3],
                                ["ai", "ai.training", "product_improvement"][n % 2],
                                [Effect.GRANT, Effect.OPT_OUT][n % 4 == 1],
                                user_id=["", "u1", "u0", "ü2"][n % 4],
                                valid_from=clock.now - n if n % 5 else None,
                                valid_until=clock.now + 10**9 if n % 3 == 2 else None,
                                covers_data_from=clock.now - 10**9 if n % 4 == 3 else None,
                                evidence=["", "signed", "é" * 300][n % 3])
                 for n in range(20)]
    requests += [ConsentRequest("accöunt-ü", "customer_content", "ai", Effect.GRANT,
                                user_id="ü", evidence="ok")]
    requests += [ErasureRequest("acct-04", "u1"), ErasureRequest("acct-07"),
                 ErasureRequest("accöunt-ü", "ü")]
    written = store.write(requests, actor="t")
    clock.advance()
    store.withdraw(store.consents("acct-01")[0].entry_id, actor="t")
    plain = store.snapshot()
    version, chain, base, latest = store.snapshot_base()
    built = ConsentIndex.build(plain.version, plain.rows)
    assert (version, chain) == (plain.version, plain.chain)
    assert (base.account_count, base.entry_count) == (built.account_count, built.entry_count)
    assert sorted(base.ids()) == sorted(a for a, _ in built.states())
    for account_id, state in built.states():
        assert comparable(base.state(account_id)) == comparable(state)
    assert latest == latest_time(plain.rows)
    assert written
