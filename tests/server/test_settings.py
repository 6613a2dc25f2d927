"""Serve settings: flags beat MAYTRAIN_* variables beat defaults; credentials are masked."""

from __future__ import annotations

import pytest

from sidecar.core import InvalidValueError
from sidecar.settings import ServeSettings, mask_url, resolve


def test_defaults_without_flags_or_environment() -> None:
    assert resolve({}, env={}) == ServeSettings()


def test_environment_fills_what_flags_leave_out() -> None:
    settings = resolve({"store": "sqlite:///flag.db"}, env={
        "MAYTRAIN_STORE": "sqlite:///env.db", "MAYTRAIN_LISTEN": "127.0.0.1:1, unix:/tmp/s",
        "MAYTRAIN_MAX_STALENESS": "12.5", "MAYTRAIN_MAX_BATCH": "50"})
    assert settings.store == "sqlite:///flag.db"
    assert settings.listen == ("127.0.0.1:1", "unix:/tmp/s")
    assert settings.max_staleness == 12.5 and settings.max_batch == 50


def test_repeated_listen_flags_replace_the_environment() -> None:
    settings = resolve({"listen": ["a:1", "b:2"]}, env={"MAYTRAIN_LISTEN": "c:3"})
    assert settings.listen == ("a:1", "b:2")


@pytest.mark.parametrize("name, value", [("max_staleness", "-1"), ("sync_interval", "soon"),
                                         ("max_batch", "0")])
def test_a_bad_number_is_refused_naming_the_setting(name, value) -> None:
    with pytest.raises(InvalidValueError, match=name.replace("_", "-")):
        resolve({name: value}, env={})


@pytest.mark.parametrize("url, masked", [
    ("postgresql://maytrain:s3cret@db:5432/consent", "postgresql://maytrain:***@db:5432/consent"),
    ("postgresql://db/consent?user=m&password=s3cret", "postgresql://db/consent?user=m&password=***"),
    ("sqlite:////data/maytrain.db", "sqlite:////data/maytrain.db"),
])
def test_mask_url_hides_passwords(url, masked) -> None:
    assert mask_url(url) == masked


def test_described_settings_never_show_the_password() -> None:
    text = ServeSettings(store="postgresql://u:s3cret@h/d").described()
    assert "s3cret" not in text and "u:***@h" in text
