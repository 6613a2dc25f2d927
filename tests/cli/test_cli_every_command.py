"""What the README promises of every command: --json (before or after the command's name),
--store after the name of each command that reads the store, and quiet ends."""

from __future__ import annotations

import argparse
import os
import subprocess
from collections.abc import Iterator

import pytest
from conftest import maytrain_command

from sidecar.cli import build_parser, options

NO_STORE = {"check", "status", "receipts"}  # they ask a sidecar or read a spool


def leaf_commands() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    def walk(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
        groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not groups:
            yield path.strip(), parser
            return
        for name, child in groups[0].choices.items():
            yield from walk(child, f"{path} {name}")

    yield from walk(build_parser(), "")


def flags(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


LEAVES = dict(leaf_commands())


@pytest.mark.parametrize("command", sorted(LEAVES))
def test_every_command_takes_json_after_its_name(command) -> None:
    assert "--json" in flags(LEAVES[command])


@pytest.mark.parametrize("command", sorted(set(LEAVES) - NO_STORE))
def test_every_command_that_reads_the_store_takes_store_after_its_name(command) -> None:
    assert {"--store", "--policy"} <= flags(LEAVES[command])


@pytest.mark.parametrize("argv, wanted", [
    (["serve", "--json"], "json"),
    (["--json", "serve"], "json"),
    (["relay", "--json"], "json"),
    (["serve", "--json", "--log-format", "text"], "text"),
    (["serve"], "text"),
], ids=["serve-json", "global-json", "relay-json", "log-format-wins", "default"])
def test_json_asks_a_long_running_command_for_json_logs(argv, wanted, monkeypatch) -> None:
    monkeypatch.delenv("MAYTRAIN_LOG_FORMAT", raising=False)
    args = build_parser().parse_args(argv)
    assert options.settings(options.json_logs(args)).log_format == wanted


def test_receipts_takes_json_after_its_name(maytrain, tmp_path) -> None:
    (tmp_path / "spool").mkdir()
    result = maytrain("receipts", "spool", "--json")
    assert (result.code, result.out, result.err) == (0, "", "")


def test_a_closed_stdout_ends_a_command_quietly_and_never_as_success(tmp_path) -> None:
    command, extra = maytrain_command()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAYTRAIN_")}
    with subprocess.Popen([*command, "policy", "show"], cwd=tmp_path, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env={**env, **extra}) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # before the command has started: its write finds no reader
        error = process.stderr.read()
        assert process.wait(timeout=60) == 1
    assert error == ""


def test_rerunning_the_sample_says_the_changes_since_are_kept(maytrain) -> None:
    assert maytrain("store", "init", "--sample").code == 0
    again = maytrain("store", "init", "--sample")
    assert again.code == 0
    assert "the sample is already loaded; nothing added (changes made since are kept" in again.out

