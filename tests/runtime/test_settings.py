"""Settings: flags beat MAYTRAIN_* variables beat the policy beat defaults; masked output."""

from __future__ import annotations

import os

import pytest

from sidecar.cli import build_parser
from sidecar.cli.options import settings as settings_of
from sidecar.core import InvalidValueError
from sidecar.policy_files import load_policy
from sidecar.settings import ENVIRONMENT, Settings, resolve
from sidecar.store.masking import mask_url


def test_defaults_without_flags_or_environment() -> None:
    assert resolve({}, env={}) == Settings()


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
                                         ("max_batch", "0"), ("reuse_port", "maybe")])
def test_a_bad_value_is_refused_naming_the_setting(name, value) -> None:
    with pytest.raises(InvalidValueError, match=name.replace("_", "-")):
        resolve({name: value}, env={})


def test_every_setting_has_its_variable() -> None:
    assert ENVIRONMENT["store_password_file"] == "MAYTRAIN_STORE_PASSWORD_FILE"
    assert ENVIRONMENT["target"] == "MAYTRAIN_TARGET"
    assert set(ENVIRONMENT) == set(Settings.__dataclass_fields__)


def test_the_policy_decides_max_staleness_only_when_nothing_else_did() -> None:
    policy = load_policy()
    assert resolve({}, env={}).under(policy).staleness_limit == policy.max_staleness_seconds
    assert resolve({}, env={"MAYTRAIN_MAX_STALENESS": "7"}).under(policy).staleness_limit == 7


def test_the_limit_is_not_read_before_the_policy_filled_it_in() -> None:
    with pytest.raises(RuntimeError, match="under"):
        _ = Settings().staleness_limit


def test_every_command_reads_the_store_from_the_same_place(monkeypatch) -> None:
    monkeypatch.setenv("MAYTRAIN_STORE", "sqlite:///from-env.db")
    for argv in (["consent", "list", "--account", "a"], ["serve"], ["store", "init"]):
        assert settings_of(build_parser().parse_args(argv)).store == "sqlite:///from-env.db"
    args = build_parser().parse_args(["--store", "sqlite:///flag.db", "store", "init"])
    assert settings_of(args).store == "sqlite:///flag.db"


@pytest.mark.parametrize("url, masked", [
    ("postgresql://maytrain:s3cret@db:5432/consent", "postgresql://maytrain:***@db:5432/consent"),
    ("postgresql://db/consent?user=m&password=s3cret",
     "postgresql://db/consent?user=m&password=***"),
    ("sqlite:////data/maytrain.db", "sqlite:////data/maytrain.db"),
])
def test_mask_url_hides_passwords(url, masked) -> None:
    assert mask_url(url) == masked


def test_described_settings_never_show_the_password() -> None:
    text = Settings(store="postgresql://u:s3cret@h/d").described()
    assert "s3cret" not in text and "u:***@h" in text


def test_described_settings_name_the_built_in_policy_rather_than_none() -> None:
    assert "policy=built-in" in Settings().described()
    assert "policy=/etc/p.toml" in Settings(policy="/etc/p.toml").described()


def test_the_environment_is_read_as_it_is_at_the_call(monkeypatch) -> None:
    # datasets' Dataset.map(num_proc=...) rebinds os.environ to a copy: settings must follow.
    monkeypatch.setattr(os, "environ", {**os.environ, "MAYTRAIN_STORE": "sqlite:///rebound.db"})
    assert settings_of(build_parser().parse_args(["serve"])).store == "sqlite:///rebound.db"
