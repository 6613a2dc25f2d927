"""`maytrain store pack`: keeps the packed base a cold start reads, and says what it holds."""

from __future__ import annotations

from sidecar.policy_files import load_policy
from sidecar.store import open_store


def test_store_pack_packs_the_current_version_and_says_so(initialized) -> None:
    assert initialized("account", "add", "acct-1", "--region", "US").code == 0
    result = initialized("store", "pack")
    assert result.code == 0, result.err
    assert result.out.startswith("packed consent version 1 of sqlite:///maytrain.db: ")
    assert "in 1 part" in result.out and "starts from it" in result.out


def test_store_pack_json_names_the_version_and_the_bodys_proof(initialized) -> None:
    assert initialized("account", "add", "acct-1").code == 0
    packed = initialized("store", "pack", "--json").json()
    assert packed["consent_version"] == 1 and packed["parts"] == 1
    assert packed["body_bytes"] > 0 and len(packed["body_sha256"]) == 64
    assert initialized("store", "pack", "--json").json()["body_sha256"] == packed["body_sha256"]


def test_store_pack_of_a_missing_store_fails_without_creating_one(maytrain, tmp_path) -> None:
    result = maytrain("store", "pack")
    assert result.code != 0
    assert "store init" in result.err
    assert not (tmp_path / "maytrain.db").exists()


def test_store_pack_with_a_snapshot_key_seals_the_base(initialized, tmp_path) -> None:
    (tmp_path / "snapshot.key").write_text("k" * 32 + "\n")
    assert initialized("account", "add", "acct-1").code == 0
    sealed = initialized("store", "pack", "--snapshot-key-file", "snapshot.key")
    assert sealed.code == 0, sealed.err
    assert "sealed with the snapshot key" in sealed.out
    unsealed = initialized("store", "pack", "--json").json()
    assert unsealed["sealed"] is False
    from_env = initialized("store", "pack", "--json",
                           MAYTRAIN_SNAPSHOT_KEY_FILE=str(tmp_path / "snapshot.key"))
    assert from_env.json()["sealed"] is True


def test_store_pack_with_an_unusable_key_fails_and_packs_nothing(initialized, tmp_path) -> None:
    (tmp_path / "short.key").write_text("short")
    result = initialized("store", "pack", "--snapshot-key-file", "short.key")
    assert result.code != 0 and "needs at least 16" in result.err
    with open_store(f"sqlite:///{tmp_path / 'maytrain.db'}", policy=load_policy()) as store:
        assert store.packed_base_info() is None
