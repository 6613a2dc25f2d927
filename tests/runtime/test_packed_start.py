"""A sidecar with a snapshot key and no snapshot file starts from the store's packed base
only when that base is sealed with its key; otherwise it reads every row, and says why."""

from __future__ import annotations

import logging

import pytest

from sidecar.policy_files import load_policy
from sidecar.runtime import Sidecar
from sidecar.samples import load_sample
from sidecar.settings import resolve
from sidecar.store import open_store

KEY = b"s" * 32


@pytest.fixture
def packed_store(tmp_path):
    """pack(key): the sample store, packed with `key` (None: unsealed); its URL."""
    url = f"sqlite:///{tmp_path / 'consent.db'}"

    def pack(key: bytes | None) -> str:
        with open_store(url, create=True, policy=load_policy()) as store:
            load_sample(store, actor="test")
            store.pack(key)
        return url

    return pack


def started(url: str, key_file) -> Sidecar:
    settings = resolve({"store": url, "listen": ["127.0.0.1:0"], "shutdown_grace": 1.0,
                        "snapshot_key_file": str(key_file)}, env={})
    sidecar = Sidecar(settings, load_policy())
    sidecar.start()
    return sidecar


@pytest.mark.parametrize(("key", "logged"), [
    pytest.param(KEY, "loaded the store's packed base", id="sealed-with-its-key"),
    pytest.param(None, "not sealed with this sidecar's snapshot key", id="unsealed"),
])
def test_a_keyed_sidecar_starts_from_the_packed_base_only_when_sealed_with_its_key(
        packed_store, tmp_path, caplog, key, logged) -> None:
    key_file = tmp_path / "snapshot.key"
    key_file.write_bytes(KEY)
    caplog.set_level(logging.INFO, "maytrain.sync")
    sidecar = started(packed_store(key), key_file)
    try:
        assert sidecar.service.serving()
        assert logged in caplog.text
    finally:
        sidecar.stop()
