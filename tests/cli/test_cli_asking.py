"""The commands a new user types first: --version, policy show, and check/status that find
the sidecar through $MAYTRAIN_TARGET and speak JSON with numbers as numbers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from running_sidecar import Launcher, RunningSidecar, free_port

from sidecar.cli.policy_commands import describe
from sidecar.policy_files import load_policy

TELEMETRY = ["--account", "sample-terms", "--category", "service_generated.telemetry",
             "--purpose", "ai.training", "--collected-at", "2025-03-01T00:00:00Z"]


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory) -> Iterator[RunningSidecar]:
    launcher = Launcher(tmp_path_factory.mktemp("asking"))
    yield launcher()
    launcher.stop_all()


def test_version_names_the_release(maytrain) -> None:
    result = maytrain("--version")
    assert result.code == 0 and result.out.startswith("maytrain 0.")


def test_policy_show_lists_what_the_policy_declares(maytrain) -> None:
    text = maytrain("policy", "show")
    assert text.code == 0
    assert "customer_content.audio" in text.out and "needs user consent" in text.out
    assert "alias UK -> GB" in text.out and load_policy().version in text.out
    assert maytrain("policy", "show", "--json").json() == json.loads(
        json.dumps(describe(load_policy())))


@pytest.mark.parametrize("json_first", [True, False], ids=["global-json", "command-json"])
def test_status_finds_the_sidecar_through_the_environment(maytrain, sidecar, json_first) -> None:
    argv = ["--json", "status"] if json_first else ["status", "--json"]
    result = maytrain(*argv, MAYTRAIN_TARGET=sidecar.tcp)
    assert result.code == 0, result.err
    status = result.json()
    assert status["serving"] is True
    assert isinstance(status["consent_version"], int) and status["consent_version"] > 0
    assert isinstance(status["accounts"], int) and isinstance(status["staleness"], float)


def test_status_exit_codes_tell_unreachable_from_not_serving(maytrain) -> None:
    result = maytrain("status", "--target", f"127.0.0.1:{free_port()}")
    assert result.code == 2 and "did not answer" in result.err


def test_check_finds_the_sidecar_through_the_environment(maytrain, sidecar) -> None:
    result = maytrain("check", *TELEMETRY, "--json", MAYTRAIN_TARGET=sidecar.tcp)
    assert result.code == 0, result.err
    assert result.json()["reason"] == "ALLOWED_BY_TERMS"
    assert isinstance(result.json()["consent_version"], int)


def test_a_misspelt_category_gets_a_suggestion(maytrain, sidecar) -> None:
    result = maytrain("check", "--account", "sample-terms", "--category",
                      "service_generated.telemetri", "--purpose", "ai.training", "--explain",
                      MAYTRAIN_TARGET=sidecar.tcp)
    assert result.code == 1
    assert "did you mean 'service_generated.telemetry'?" in result.out


def test_a_misspelt_purpose_in_a_write_gets_a_suggestion(initialized) -> None:
    result = initialized("consent", "grant", "--account", "acme", "--category",
                         "customer_content", "--purpose", "ai.trainng")
    assert result.code == 2
    assert "did you mean 'ai.training'?" in result.err
